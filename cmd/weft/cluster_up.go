package main

// weft cluster up (make cluster): cluster mode on one machine. It runs
// NATS JetStream servers (weft cluster nats, one process each, so one can
// be stopped on its own) and weft serve nodes on loopback as children of
// this process, all from this binary: nothing to install, no shell, and
// the same on every OS. The nodes share one keys file, so one token works
// on each. Ctrl-C stops the nodes first (they hand their partitions over),
// then NATS.
//
// The children run in their own process group (cluster_up_*.go), so a
// Ctrl-C in the terminal reaches this process alone and the order holds;
// on Linux they also get SIGTERM if this process dies without stopping
// them.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft/transport/auth"
)

const (
	// nodeReadyTimeout bounds a node's start, until /readyz answers 200.
	nodeReadyTimeout = 60 * time.Second
	// probeTimeout bounds one readiness probe (an HTTP GET, a stream
	// create).
	probeTimeout = 2 * time.Second
	// nodeStopTimeout is how long a node may take to stop after SIGTERM
	// (its drain, 10 s by default, and its partitions' hand-over) before
	// it is killed.
	nodeStopTimeout = 30 * time.Second
	// natsStopTimeout is the same for a NATS server.
	natsStopTimeout = 10 * time.Second
	// maxNodes keeps a local cluster to what one machine can run.
	maxNodes = 9
	// probeStream is the stream created and deleted to check that the
	// NATS cluster places streams with the replicas the nodes ask for.
	probeStream = "WEFT_CLUSTER_UP_PROBE"
)

const clusterUpLongHelp = `Starts cluster mode on this machine, from this binary: --nats-servers NATS
JetStream servers (weft cluster nats, one process each, routed into one
cluster) and --nodes weft serve nodes joined to them on 127.0.0.1. Node i is
node<i>, listens on --port+i-1 and keeps its data in --data-dir/node<i>; the NATS
stores are in --data-dir/nats. Every node reads --data-dir/keys.json (created
with an admin token on the first start), so one token works on every node,
and weft commands run from the directory holding ./weft-data use it with no
--token. Once every node is ready it prints the nodes, their pids and the
token. The children's logs follow on stderr, each line behind its name.

Kill a node (kill -9 PID) to watch the others take over its partitions; kill a
NATS server to watch JetStream carry on with the other two. Ctrl-C (or SIGTERM)
stops the nodes, then NATS. Flags after "--" go to every weft serve, e.g.
  weft cluster up -- --llm-provider openai --llm-model gpt-4o-mini
--sync is weft cluster nats's (weft help cluster nats says what it costs).`

// upFlags are weft cluster up's flags.
type upFlags struct {
	nodes, natsServers, replicas                     int
	port, natsPort, natsClusterPort, natsMonitorPort int
	dataDir                                          string
	sync                                             syncFlag
	logLevel, natsLogLevel, logFormat                string
	serveArgs                                        []string // after "--"
}

func (f *upFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.nodes, "nodes", 3, fmt.Sprintf("weft nodes, 1 to %d", maxNodes))
	fs.IntVar(&f.natsServers, "nats-servers", 3, fmt.Sprintf("NATS JetStream servers, 1 to %d", maxNATSServers))
	fs.IntVar(&f.replicas, "nats-replicas", 0, "replicas of weft's streams and buckets, at most --nats-servers (0: 3, or all the servers when fewer)")
	fs.IntVar(&f.port, "port", 8081, "HTTP and WebSocket port of node1; node i listens on 127.0.0.1:port+i-1")
	fs.IntVar(&f.natsPort, "nats-port", 4222, "client port of the first NATS server; server i listens on nats-port+i-1")
	fs.IntVar(&f.natsClusterPort, "nats-cluster-port", 6222, "route port of the first NATS server; server i routes on nats-cluster-port+i-1")
	fs.IntVar(&f.natsMonitorPort, "nats-monitor-port", 0, "NATS monitoring port of the first server (/varz, /jsz); 0: none")
	fs.StringVar(&f.dataDir, "data-dir", "./weft-data", "holds keys.json (every node's), node<i>/ and nats/")
	fs.Var(&f.sync, "sync", "when NATS fsyncs JetStream writes: default (every 2 minutes), always, or a duration")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level of cluster up and the weft nodes: debug, info, warn or error")
	fs.StringVar(&f.natsLogLevel, "nats-log-level", "warn", "log level of the NATS servers (info shows routes, leader elections and stream placement)")
	fs.StringVar(&f.logFormat, "log-format", "console", "json or console (console puts each process's name before its lines)")
}

// upManaged are the weft serve flags cluster up sets for each node: given
// after "--" they would undo the cluster.
var upManaged = []string{"addr", "data-dir", "keys", "node-id", "nats-url", "nats-replicas", "nats-creds"}

// check refuses flags that cannot work (exit 2) and fills in the default
// replicas.
func (f *upFlags) check() error {
	if f.replicas == 0 {
		f.replicas = min(3, f.natsServers)
	}
	switch {
	case f.nodes < 1 || f.nodes > maxNodes:
		return usageError{fmt.Sprintf("--nodes %d: want 1 to %d", f.nodes, maxNodes)}
	case f.natsServers < 1 || f.natsServers > maxNATSServers:
		return usageError{fmt.Sprintf("--nats-servers %d: want 1 to %d", f.natsServers, maxNATSServers)}
	case f.replicas < 1 || f.replicas > min(f.natsServers, maxReplicas):
		return usageError{fmt.Sprintf("--nats-replicas %d: want 1 to %d (--nats-servers)", f.replicas, min(f.natsServers, maxReplicas))}
	case f.dataDir == "":
		return usageError{"--data-dir: want a directory"}
	}
	for _, p := range []struct {
		name    string
		base, n int
	}{{"port", f.port, f.nodes}, {"nats-port", f.natsPort, f.natsServers}, {"nats-cluster-port", f.natsClusterPort, f.natsServers}} {
		if p.base < 1 || p.base+p.n-1 > 65535 {
			return usageError{fmt.Sprintf("--%s %d: the ports of %d processes must lie in 1-65535", p.name, p.base, p.n)}
		}
	}
	for _, a := range f.serveArgs {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && slices.Contains(upManaged, name) {
			return usageError{fmt.Sprintf("%s after --: weft cluster up sets --%s for each node", a, name)}
		}
	}
	return nil
}

func clusterCommand(stdout, stderr io.Writer) *ffcli.Command {
	c := newGroup("cluster", "Try cluster mode on one machine: NATS JetStream servers and weft nodes on loopback.",
		clusterUpCommand(stdout, stderr), clusterNATSCommand(stdout, stderr))
	c.FlagSet = newFlags("weft cluster", stderr) // weft help cluster lists the subcommands with it
	return c
}

func clusterUpCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft cluster up", stderr)
	var f upFlags
	f.register(fs)
	return newLeaf(fs, leaf{
		name: "up", usage: "weft cluster up [flags] [-- weft serve flags]", args: anyArgs(),
		help: "Run NATS JetStream servers and weft nodes on loopback, sharing one token, until Ctrl-C (make cluster).",
		long: clusterUpLongHelp,
		run: func(ctx context.Context, args []string) error {
			f.serveArgs = args
			return clusterUp(ctx, f, stdout, stderr)
		},
	})
}

// clusterUp runs the cluster until ctx ends (SIGINT, SIGTERM, or SIGHUP
// when the terminal goes) or every process has exited.
func clusterUp(ctx context.Context, f upFlags, stdout, stderr io.Writer) (err error) {
	if err := f.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cluster up: find this binary to run it: %w", err)
	}
	u := newUpRun(exe, f, stderr)
	if u.log, err = newLogger(f.logLevel, f.logFormat, u.out.writer("up")); err != nil {
		return err
	}
	if _, err := newLogger(f.natsLogLevel, f.logFormat, io.Discard); err != nil {
		return usageError{fmt.Sprintf("--nats-log-level %q: want debug, info, warn or error", f.natsLogLevel)}
	}
	keys, token, err := clusterKeys(f.dataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, u.stopAll()) }()
	if err := u.startAll(ctx, keys); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	u.printSummary(stdout, keys, token)
	return u.watch(ctx)
}

// clusterKeys makes sure dataDir/keys.json exists (written with a fresh
// admin token on the first start, as weft serve does) and returns its
// path and first admin token.
func clusterKeys(dataDir string) (path, token string, err error) {
	path, token, created, err := auth.EnsureKeysFile(dataDir)
	if err != nil {
		return "", "", fmt.Errorf("cluster up: %w", err)
	}
	if created {
		return path, token, nil
	}
	if token, err = firstAdminToken(path); err != nil {
		return "", "", fmt.Errorf("cluster up: %w", err)
	}
	return path, token, nil
}

// upRun is one run of cluster up: its children and their output.
type upRun struct {
	exe   string
	f     upFlags
	log   zerolog.Logger
	out   *lineMux
	nats  []*child
	nodes []*child
	exits chan *child // every child, once, when it exits
}

func newUpRun(exe string, f upFlags, stderr io.Writer) *upRun {
	return &upRun{
		exe: exe, f: f,
		out:   newLineMux(stderr, f.logFormat == "console"),
		exits: make(chan *child, f.natsServers+f.nodes),
	}
}

// natsURLs are the NATS servers' client URLs, as --nats-url takes them.
func (u *upRun) natsURLs() string {
	return natsFlags{servers: u.f.natsServers, port: u.f.natsPort}.urls()
}

func (u *upRun) nodeAddr(i int) string {
	return net.JoinHostPort(natsHost, strconv.Itoa(u.f.port+i-1))
}

// startAll starts the NATS servers, waits until they place streams with
// the replicas asked for, then starts the nodes one by one, each once the
// one before is ready (the first creates weft's streams and buckets).
func (u *upRun) startAll(ctx context.Context, keys string) error {
	for i := 1; i <= u.f.natsServers; i++ {
		c, err := u.start(fmt.Sprintf("nats%d", i), u.natsArgs(i), false)
		if err != nil {
			return err
		}
		u.nats = append(u.nats, c)
	}
	if err := u.waitNATS(ctx); err != nil {
		return err
	}
	u.log.Info().Str("nats_url", u.natsURLs()).Int("replicas", u.f.replicas).Msg("NATS JetStream is ready; starting the weft nodes")
	for i := 1; i <= u.f.nodes; i++ {
		c, err := u.start(fmt.Sprintf("node%d", i), u.serveArgs(i, keys), true)
		if err != nil {
			return err
		}
		c.addr = u.nodeAddr(i)
		u.nodes = append(u.nodes, c)
		if err := u.waitNode(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (u *upRun) natsArgs(i int) []string {
	return []string{"cluster", "nats",
		"--servers", strconv.Itoa(u.f.natsServers), "--only", strconv.Itoa(i),
		"--port", strconv.Itoa(u.f.natsPort), "--cluster-port", strconv.Itoa(u.f.natsClusterPort),
		"--monitor-port", strconv.Itoa(u.f.natsMonitorPort),
		"--data-dir", filepath.Join(u.f.dataDir, "nats"), "--sync", u.f.sync.String(),
		"--log-level", u.f.natsLogLevel, "--log-format", u.f.logFormat}
}

func (u *upRun) serveArgs(i int, keys string) []string {
	args := []string{"serve",
		"--addr", u.nodeAddr(i), "--data-dir", filepath.Join(u.f.dataDir, fmt.Sprintf("node%d", i)),
		"--keys", keys, "--node-id", fmt.Sprintf("node%d", i),
		"--nats-url", u.natsURLs(), "--nats-replicas", strconv.Itoa(u.f.replicas),
		"--log-level", u.f.logLevel, "--log-format", u.f.logFormat}
	return append(args, u.f.serveArgs...)
}

// start runs this binary with args as the child name. Its stderr (its
// log) goes to cluster up's, and its stdout too if withStdout (weft
// cluster nats's banner would repeat what cluster up prints).
func (u *upRun) start(name string, args []string, withStdout bool) (*child, error) {
	c := &child{name: name, cmd: exec.Command(u.exe, args...), done: make(chan struct{})}
	w := u.out.writer(name)
	c.cmd.Stderr = w
	if withStdout {
		c.cmd.Stdout = w
	}
	c.cmd.SysProcAttr = childProcAttr()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cluster up: start %s: %w", name, err)
	}
	go func() { // ends when the process does; stopAll makes sure it does
		c.err = c.cmd.Wait()
		w.flush()
		close(c.done)
		u.exits <- c
	}()
	return c, nil
}

// waitNATS waits until the NATS cluster creates a stream with the
// replicas the nodes will ask for (a meta leader alone is not enough: a
// server that has not joined yet cannot hold a replica).
func (u *upRun) waitNATS(ctx context.Context) error {
	nc, err := nats.Connect(u.natsURLs(), nats.Name("weft cluster up"),
		nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("cluster up: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("cluster up: JetStream: %w", err)
	}
	return poll(ctx, "NATS JetStream", natsReadyTimeout, u.nats, func(ctx context.Context) error {
		return probeReplicas(ctx, js, u.f.replicas)
	})
}

func probeReplicas(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: probeStream,
		Subjects: []string{"weft-cluster-up.probe"}, Storage: jetstream.MemoryStorage, Replicas: replicas})
	if err != nil {
		return fmt.Errorf("create a stream of %d replicas: %w", replicas, err)
	}
	return js.DeleteStream(ctx, probeStream)
}

// waitNode waits until node c answers /readyz with 200.
func (u *upRun) waitNode(ctx context.Context, c *child) error {
	client := &http.Client{Timeout: probeTimeout}
	watched := append([]*child{c}, u.nats...)
	return poll(ctx, c.name, nodeReadyTimeout, watched, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}

// poll runs try until it succeeds, one of watched exits, ctx ends or limit
// passes.
func poll(ctx context.Context, what string, limit time.Duration, watched []*child, try func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		for _, c := range watched {
			if c.exited() {
				if c.name == what {
					what = "it"
				}
				return fmt.Errorf("cluster up: %s exited before %s was ready (%v): its log above says why", c.name, what, exitText(c.err))
			}
		}
		tctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := try(tctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("cluster up: %s not ready within %v: %w", what, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(natsPollInterval):
		}
	}
}

func (u *upRun) printSummary(w io.Writer, keys, token string) {
	fmt.Fprintf(w, "\nweft cluster is up: %d weft nodes on %d NATS JetStream servers (R%d, sync %s).\n\n",
		u.f.nodes, u.f.natsServers, u.f.replicas, u.f.sync.String())
	for _, c := range u.nodes {
		fmt.Fprintf(w, "  %-6s http://%-20s pid %-8d console http://%s/console/\n", c.name, c.addr, c.cmd.Process.Pid, c.addr)
	}
	for i, c := range u.nats {
		fmt.Fprintf(w, "  %-6s nats://%-20s pid %d\n", c.name, net.JoinHostPort(natsHost, strconv.Itoa(u.f.natsPort+i)), c.cmd.Process.Pid)
	}
	try := u.exeForHumans() + " executions ls --server " + u.nodes[len(u.nodes)-1].addr
	switch {
	case token == "":
		fmt.Fprintf(w, "\n%s has no admin token: use one of its tokens.\n\n", keys)
		try += " --token TOKEN"
	case filepath.Clean(keys) == localKeysFile:
		fmt.Fprintf(w, "\nToken of every node (in %s: weft commands run from this directory use it):\n\n    %s\n\n", keys, token)
	default:
		fmt.Fprintf(w, "\nToken of every node (in %s):\n\n    %s\n\n", keys, token)
		try += " --token " + token
	}
	fmt.Fprintf(w, "Try a node:  %s\n", try)
	fmt.Fprintf(w, "Failover:    kill -9 a node's pid: within 15 s the others take its partitions and\n"+
		"             resume its executions (curl -s http://%s/metrics | grep partitions_owned)\n", u.nodes[0].addr)
	fmt.Fprintf(w, "NATS:        weft serve --nats-url %s --nats-replicas %d joins another node.\n", u.natsURLs(), u.f.replicas)
	fmt.Fprintf(w, "Ctrl-C stops everything.\n\n")
}

// exeForHumans is this binary as a command to type: ./bin/weft under
// the working directory, else its absolute path.
func (u *upRun) exeForHumans() string {
	wd, err := os.Getwd()
	if err != nil {
		return u.exe
	}
	rel, err := filepath.Rel(wd, u.exe)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return u.exe
	}
	return "." + string(filepath.Separator) + rel
}

// watch reports children that exit until ctx ends (nil) or none is left.
func (u *upRun) watch(ctx context.Context) error {
	alive := len(u.nats) + len(u.nodes)
	for {
		select {
		case <-ctx.Done():
			u.log.Info().Msg("stopping the weft nodes, then NATS")
			return nil
		case c := <-u.exits:
			alive--
			u.log.Warn().Str("process", c.name).Str("exit", exitText(c.err)).
				Msgf("%s exited; to start it again: %s", c.name, c.commandLine())
			if alive == 0 {
				return errors.New("cluster up: every process exited")
			}
		}
	}
}

// stopAll stops the nodes, then the NATS servers: SIGTERM, and SIGKILL
// for one that has not exited in time (an error).
func (u *upRun) stopAll() error {
	return errors.Join(stopChildren(u.nodes, nodeStopTimeout), stopChildren(u.nats, natsStopTimeout))
}

func stopChildren(cs []*child, limit time.Duration) error {
	var stopping []*child
	for _, c := range cs {
		if !c.exited() {
			c.terminate()
			stopping = append(stopping, c)
		}
	}
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	expired := false
	var errs []error
	for _, c := range stopping {
		if !expired {
			select {
			case <-c.done:
			case <-timeout.C:
				expired = true // the others had as long: kill them too
			}
		}
		if c.exited() {
			if c.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, c.err))
			}
			continue
		}
		_ = c.cmd.Process.Kill()
		<-c.done
		errs = append(errs, fmt.Errorf("%s did not stop within %v of SIGTERM: killed", c.name, limit))
	}
	return errors.Join(errs...)
}

// child is one process cluster up runs.
type child struct {
	name string
	addr string // a node's host:port
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and err is set
	err  error
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// terminate asks the process to stop (SIGTERM; where signals other than
// kill do not exist, a kill).
func (c *child) terminate() {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = c.cmd.Process.Kill()
	}
}

// commandLine is the child's command line, quoted for a POSIX shell.
func (c *child) commandLine() string {
	words := make([]string, len(c.cmd.Args))
	for i, a := range c.cmd.Args {
		words[i] = shellQuote(a)
	}
	return strings.Join(words, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
