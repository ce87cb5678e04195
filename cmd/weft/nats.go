package main

// weft cluster nats: NATS JetStream servers run from the weft binary
// itself (nats-server as a library), so trying cluster mode needs nothing
// installed. One process runs every server of a local cluster, or, with
// --only, one of them (weft cluster up runs one process per server, so
// that one can be killed on its own). Loopback only: it is for one
// machine; a deployment runs nats-server on its own.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/rs/zerolog"
)

const (
	natsHost = "127.0.0.1"
	// natsReadyTimeout bounds how long the servers may take to accept
	// clients and, together, to elect a JetStream meta leader.
	natsReadyTimeout = 60 * time.Second
	// natsPollInterval is how often readiness is checked.
	natsPollInterval = 50 * time.Millisecond
	// maxNATSServers keeps a local cluster to a size JetStream's Raft
	// groups are meant for (replicas are at most 5).
	maxNATSServers = 7
)

const natsLongHelp = `Runs NATS JetStream servers inside this process (nats-server as a library), on
127.0.0.1, so that weft serve --nats-url has something to talk to without
installing nats-server. With --servers 3 they are routed to each other and form
one JetStream cluster (weft serve --nats-replicas 3 then keeps every stream and
bucket on all three). It prints the --nats-url to give weft serve, and stops on
SIGINT or SIGTERM. Server i listens on --port+i-1, routes on --cluster-port+i-1
and keeps its JetStream store in --data-dir/<cluster-name>-<i>. --only N runs
server N alone (its routes still name the others), one process per server.

--sync says when JetStream writes reach the disk:
  default   nats-server's own: fsync every 2 minutes. An acknowledged write is
            durable because a quorum of replicas holds it (R3, like Kafka's
            acks=all): it survives the loss of any one server, not a power
            loss of the whole cluster within those 2 minutes. Measured on one
            server: ~104k msgs/s with 256 publishers.
  always    fsync every message before acknowledging it (sync_interval:
            always): survives a power loss of every server at once, at ~4.2k
            msgs/s (no group commit: a quarter of weft's bbolt store).
  DURATION  fsync that often, e.g. 1s: in between.`

// natsFlags are weft cluster nats's flags.
type natsFlags struct {
	servers, only                  int
	port, clusterPort, monitorPort int
	dataDir, clusterName           string
	sync                           syncFlag
	logLevel, logFormat            string
}

func (f *natsFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.servers, "servers", 1, fmt.Sprintf("servers in the cluster, 1 to %d (1: a single server, no routes)", maxNATSServers))
	fs.IntVar(&f.only, "only", 0, "run only server N of --servers (one process per server); 0: run them all")
	fs.IntVar(&f.port, "port", 4222, "client port of the first server; server i listens on port+i-1")
	fs.IntVar(&f.clusterPort, "cluster-port", 6222, "route port of the first server (with --servers > 1); server i routes on cluster-port+i-1")
	fs.IntVar(&f.monitorPort, "monitor-port", 0, "NATS monitoring HTTP port of the first server (/varz, /jsz); 0: none")
	fs.StringVar(&f.dataDir, "data-dir", filepath.Join("weft-data", "nats"), "directory of the JetStream stores, one subdirectory per server")
	fs.StringVar(&f.clusterName, "cluster-name", "weft", "name of the NATS cluster; servers are named <cluster-name>-<i>")
	fs.Var(&f.sync, "sync", "when JetStream writes are fsynced: default (every 2 minutes), always, or a duration (see above)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (trace adds nats-server's protocol trace)")
	fs.StringVar(&f.logFormat, "log-format", "console", "json or console")
}

// check refuses flags that cannot work (exit 2).
func (f natsFlags) check() error {
	switch {
	case f.servers < 1 || f.servers > maxNATSServers:
		return usageError{fmt.Sprintf("--servers %d: want 1 to %d", f.servers, maxNATSServers)}
	case f.only < 0 || f.only > f.servers:
		return usageError{fmt.Sprintf("--only %d: want 1 to --servers (%d), or 0 for all", f.only, f.servers)}
	case f.clusterName == "" || strings.ContainsAny(f.clusterName, " \t.*>"):
		return usageError{fmt.Sprintf("--cluster-name %q: want a name without spaces, dots or wildcards", f.clusterName)}
	case f.dataDir == "":
		return usageError{"--data-dir: want a directory"}
	}
	for _, p := range []struct {
		name string
		base int
		used bool
	}{{"port", f.port, true}, {"cluster-port", f.clusterPort, f.servers > 1}, {"monitor-port", f.monitorPort, f.monitorPort != 0}} {
		if p.used && (p.base < 1 || p.base+f.servers-1 > 65535) {
			return usageError{fmt.Sprintf("--%s %d: the ports of %d servers must lie in 1-65535", p.name, p.base, f.servers)}
		}
	}
	return nil
}

// syncFlag is --sync: nats-server's sync_interval.
type syncFlag struct {
	always   bool
	interval time.Duration // 0 with !always: nats-server's default
}

func (s *syncFlag) String() string {
	switch {
	case s.always:
		return "always"
	case s.interval > 0:
		return s.interval.String()
	}
	return "default"
}

func (s *syncFlag) Set(v string) error {
	parsed, err := parseSync(v)
	if err != nil {
		return err
	}
	*s = parsed
	return nil
}

// parseSync reads default, always or a positive duration.
func parseSync(v string) (syncFlag, error) {
	switch v {
	case "default", "":
		return syncFlag{}, nil
	case "always":
		return syncFlag{always: true}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return syncFlag{}, fmt.Errorf("%q: want default, always or a positive duration like 1s", v)
	}
	return syncFlag{interval: d}, nil
}

// apply sets the JetStream sync options of one server.
func (s syncFlag) apply(o *server.Options) {
	o.SyncAlways = s.always
	if s.interval > 0 {
		o.SyncInterval = s.interval
	}
}

func clusterNATSCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft cluster nats", stderr)
	var f natsFlags
	f.register(fs)
	return newLeaf(fs, leaf{
		name: "nats", usage: "weft cluster nats [flags]", args: exactly(0),
		help: "Run NATS JetStream servers on loopback for weft serve --nats-url (no nats-server to install).",
		long: natsLongHelp,
		run: func(ctx context.Context, _ []string) error {
			return runNATS(ctx, f, stdout, stderr)
		},
	})
}

// runNATS runs the servers f asks for until ctx ends (SIGINT, SIGTERM) or
// one of them fails.
func runNATS(ctx context.Context, f natsFlags, stdout, stderr io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return err
	}
	failed := make(chan error, f.servers) // a server's Fatalf
	quiet := &atomic.Bool{}
	quiet.Store(f.servers > 1)
	var running []*server.Server
	defer func() { stopNATS(running) }()
	for _, i := range f.mine() {
		srv, err := startNATSServer(f, i, natsLog{log: log, failed: failed, quiet: quiet})
		if err != nil {
			return err
		}
		running = append(running, srv)
	}
	if err := waitNATSReady(ctx, failed, func() bool { return natsReady(running, f.servers > 1, f.only == 0) }); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	printNATSBanner(stdout, f)
	return serveNATS(ctx, running, failed, quiet, log)
}

// serveNATS waits for ctx to end (nil) or a server to fail. Until the
// servers are current with the cluster's JetStream meta group (or
// natsReadyTimeout has passed), their complaints that routes are not up
// yet are logged at debug level: servers started together dial each other
// before all of them listen.
func serveNATS(ctx context.Context, srvs []*server.Server, failed <-chan error, quiet *atomic.Bool, log zerolog.Logger) error {
	var tick <-chan time.Time
	if quiet.Load() {
		t := time.NewTicker(natsPollInterval)
		defer t.Stop()
		tick = t.C
	}
	quietUntil := time.Now().Add(natsReadyTimeout)
	for {
		select {
		case <-ctx.Done():
			log.Info().Msg("stopping the NATS servers")
			return nil
		case err := <-failed:
			return err
		case <-tick:
			if current(srvs) || time.Now().After(quietUntil) {
				quiet.Store(false)
				tick = nil
				log.Info().Bool("current", current(srvs)).Msg("NATS JetStream cluster formed")
			}
		}
	}
}

// current says whether every server is current with the JetStream meta
// group (it knows the leader and has caught up).
func current(srvs []*server.Server) bool {
	for _, s := range srvs {
		if !s.JetStreamIsCurrent() {
			return false
		}
	}
	return true
}

// mine lists the servers (1-based) this process runs.
func (f natsFlags) mine() []int {
	if f.only > 0 {
		return []int{f.only}
	}
	all := make([]int, f.servers)
	for i := range all {
		all[i] = i + 1
	}
	return all
}

// serverName is server i's name, unique in the cluster.
func (f natsFlags) serverName(i int) string { return fmt.Sprintf("%s-%d", f.clusterName, i) }

// urls are the client URLs of every server of the cluster, comma-separated
// as weft serve --nats-url takes them.
func (f natsFlags) urls() string {
	urls := make([]string, f.servers)
	for i := range urls {
		urls[i] = "nats://" + net.JoinHostPort(natsHost, strconv.Itoa(f.port+i))
	}
	return strings.Join(urls, ",")
}

// options are server i's options.
func (f natsFlags) options(i int) server.Options {
	name := f.serverName(i)
	o := server.Options{
		ServerName: name, Host: natsHost, Port: f.port + i - 1,
		JetStream: true, StoreDir: filepath.Join(f.dataDir, name),
		NoSigs: true, // this command handles SIGINT and SIGTERM
	}
	f.sync.apply(&o)
	if f.monitorPort != 0 {
		o.HTTPHost, o.HTTPPort = natsHost, f.monitorPort+i-1
	}
	if f.servers > 1 {
		o.Cluster = server.ClusterOpts{Name: f.clusterName, Host: natsHost, Port: f.clusterPort + i - 1}
		for j := 1; j <= f.servers; j++ {
			if j != i {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort(natsHost, strconv.Itoa(f.clusterPort+j-1))})
			}
		}
	}
	return o
}

// startNATSServer starts server i, logging through l.
func startNATSServer(f natsFlags, i int, l natsLog) (*server.Server, error) {
	opts := f.options(i)
	srv, err := server.NewServer(&opts)
	if err != nil {
		return nil, fmt.Errorf("NATS server %s: %w", opts.ServerName, err)
	}
	l.log = l.log.With().Str("nats", opts.ServerName).Logger()
	lvl := l.log.GetLevel()
	srv.SetLoggerV2(l, lvl <= zerolog.DebugLevel, lvl <= zerolog.TraceLevel, false)
	srv.Start() // returns once its listeners run in their own goroutines
	return srv, nil
}

// natsReady says whether the servers accept clients (and routes) with
// JetStream on; with the whole cluster in this process, also whether its
// meta group has a leader that knows every server and every server is
// current.
func natsReady(srvs []*server.Server, routed, whole bool) bool {
	for _, s := range srvs {
		if s.Addr() == nil || (routed && s.ClusterAddr() == nil) || !s.JetStreamEnabled() {
			return false
		}
	}
	if !routed || !whole {
		return true
	}
	var leader *server.Server
	for _, s := range srvs {
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leader = s
		}
	}
	return leader != nil && len(leader.JetStreamClusterPeers()) == len(srvs)
}

// waitNATSReady polls ready until it holds, a server fails, ctx ends or
// natsReadyTimeout passes.
func waitNATSReady(ctx context.Context, failed <-chan error, ready func() bool) error {
	deadline := time.Now().Add(natsReadyTimeout)
	for !ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("NATS JetStream not ready within %v", natsReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-time.After(natsPollInterval):
		}
	}
	return nil
}

func printNATSBanner(w io.Writer, f natsFlags) {
	what := fmt.Sprintf("a cluster %q of %d servers", f.clusterName, f.servers)
	switch {
	case f.servers == 1:
		what = "1 server"
	case f.only > 0:
		what = fmt.Sprintf("server %d of the cluster %q of %d (it forms as the others start)", f.only, f.clusterName, f.servers)
	}
	fmt.Fprintf(w, "\nNATS JetStream is up: %s, sync %s, stores in %s.\n", what, f.sync.String(), f.dataDir)
	fmt.Fprintf(w, "Run weft serve with:\n\n    --nats-url %s --nats-replicas %d\n\n", f.urls(), min(f.servers, 3))
}

// stopNATS shuts the servers down and waits until they have.
func stopNATS(srvs []*server.Server) {
	for _, s := range srvs {
		s.Shutdown()
	}
	for _, s := range srvs {
		s.WaitForShutdown()
	}
}

// natsLog is nats-server's logger on zerolog. nats-server's own Fatalf
// exits the process; this one logs and reports the error on failed, so
// the command stops every server and exits 1.
type natsLog struct {
	log    zerolog.Logger
	failed chan<- error
	quiet  *atomic.Bool // while true, startupNoise goes to debug
}

var _ server.Logger = natsLog{}

// startupNoise are the starts of what servers started together say until
// they have found each other (and what a restarted one says until it has
// caught up).
var startupNoise = []string{
	"Error trying to connect to route",
	"Waiting for routing to be established",
	"JetStream has not established contact with a meta leader",
	"JetStream is not current with the meta leader",
}

// logf logs one message at lvl, or at debug for startup noise while
// quiet. (nats-server logs some of it through "%s" or "%v": the formatted
// message is what is matched.)
func (l natsLog) logf(lvl zerolog.Level, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if l.quiet.Load() && slices.ContainsFunc(startupNoise, func(p string) bool { return strings.HasPrefix(msg, p) }) {
		lvl = zerolog.DebugLevel
	}
	l.log.WithLevel(lvl).Msg(msg)
}

func (l natsLog) Noticef(format string, v ...any) { l.log.Info().Msgf(format, v...) }
func (l natsLog) Warnf(format string, v ...any)   { l.logf(zerolog.WarnLevel, format, v...) }
func (l natsLog) Errorf(format string, v ...any)  { l.logf(zerolog.ErrorLevel, format, v...) }
func (l natsLog) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l natsLog) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }

func (l natsLog) Fatalf(format string, v ...any) {
	err := errors.New(fmt.Sprintf(format, v...))
	l.log.Error().Err(err).Msg("NATS server failed")
	select {
	case l.failed <- err:
	default: // one error is enough to stop
	}
}
