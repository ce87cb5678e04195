//go:build unix

package main_test

// weft cluster nats and weft cluster up run for real: the weft binary as a
// child process on free loopback ports, NATS JetStream servers in it, a
// nats.go client and the nodes' HTTP and WebSocket APIs checking what
// they promise, and SIGTERM ending it all with exit 0.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/internal/logbuf"
)

const (
	// clusterStartLimit bounds a cluster's start: race-built processes
	// on a small shared machine.
	clusterStartLimit = 3 * time.Minute
	// clusterStopLimit bounds how long a SIGTERM may take to end it.
	clusterStopLimit = time.Minute
)

// freePortRange returns the first of n consecutive loopback ports that
// were free a moment ago.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		held := []net.Listener{ln}
		for p := base + 1; p < base+n && p <= 65535; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if len(held) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// proc is the weft binary running one command.
type proc struct {
	cmd      *exec.Cmd
	out, err *logbuf.Buffer
	done     chan struct{}
	waitErr  error
}

// startProc runs weft with args in dir. At test end it is killed if still
// running; its output is checked for data races and panics, and logged if
// the test failed.
func startProc(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(weftBinary(t), args...), out: &logbuf.Buffer{}, err: &logbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Stdout, p.cmd.Stderr = dir, p.out, p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if all := p.out.String() + p.err.String(); strings.Contains(all, "DATA RACE") || strings.Contains(all, "panic:") {
			t.Errorf("weft %s reported a data race or panic:\n%s", strings.Join(args, " "), all)
		} else if t.Failed() {
			t.Logf("weft %s, exit %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.waitErr, p.out, p.err)
		}
	})
	return p
}

// waitStdout waits until stdout holds want, failing if the process exits
// first or limit passes.
func (p *proc) waitStdout(t *testing.T, want string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if out := p.out.String(); strings.Contains(out, want) {
			return out
		}
		select {
		case <-p.done:
			t.Fatalf("exited (%v) before printing %q", p.waitErr, want)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not printed within %v", want, limit)
		}
	}
}

// stop sends SIGTERM and checks that the process exits 0 within
// clusterStopLimit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(clusterStopLimit):
		t.Fatalf("still running %v after SIGTERM", clusterStopLimit)
	}
	if p.waitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want 0", p.waitErr)
	}
}

// TestClusterNATS: weft cluster nats --servers 3 forms one JetStream
// cluster that places a stream on all three servers, applies --sync, and
// ends with exit 0 on SIGTERM.
func TestClusterNATS(t *testing.T) {
	dir := t.TempDir()
	base := freePortRange(t, 9) // clients, routes, monitoring: three each
	p := startProc(t, dir, "cluster", "nats", "--servers", "3", "--port", strconv.Itoa(base),
		"--cluster-port", strconv.Itoa(base+3), "--monitor-port", strconv.Itoa(base+6),
		"--data-dir", "nats", "--sync", "always", "--log-format", "json", "--log-level", "warn")
	out := p.waitStdout(t, "--nats-replicas 3", clusterStartLimit)
	urls := fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", base, base+1, base+2)
	if !strings.Contains(out, "--nats-url "+urls+" --nats-replicas 3") {
		t.Errorf("stdout does not give the --nats-url of the three servers (%s):\n%s", urls, out)
	}

	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("account info: %v", err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("create a stream of 3 replicas: %v", err)
	}
	if _, err := js.Publish(ctx, "r3.x", []byte("hello")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]bool{info.Cluster.Leader: true}
	for _, r := range info.Cluster.Replicas {
		servers[r.Name] = true
	}
	if !servers["weft-1"] || !servers["weft-2"] || !servers["weft-3"] || info.State.Msgs != 1 {
		t.Errorf("stream on %v with %d messages, want weft-1..3 and 1", servers, info.State.Msgs)
	}
	if !syncAlways(t, base+6) {
		t.Error("--sync always: /varz says sync_always is not set")
	}
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(filepath.Join(dir, "nats", fmt.Sprintf("weft-%d", i), "jetstream")); err != nil {
			t.Errorf("store of server %d: %v", i, err)
		}
	}
	nc.Close()
	p.stop(t)
}

// syncAlways reads the JetStream configuration from a server's /varz.
func syncAlways(t *testing.T, monitorPort int) bool {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/varz", monitorPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var varz struct {
		JetStream struct {
			Config struct {
				SyncAlways bool `json:"sync_always"`
			} `json:"config"`
		} `json:"jetstream"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
		t.Fatalf("/varz: %v", err)
	}
	return varz.JetStream.Config.SyncAlways
}

// TestClusterNATSBusyPort: a server that cannot listen stops the command
// with exit 1 and the reason, rather than nats-server exiting the process
// or the command waiting for readiness that cannot come.
func TestClusterNATSBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := startProc(t, t.TempDir(), "cluster", "nats", "--port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "--data-dir", "nats")
	expectFailure(t, p, clusterStopLimit, "its port taken", "address already in use")
}

// expectFailure waits up to limit for p, run with what wrong, to exit 1
// with a message that holds says.
func expectFailure(t *testing.T, p *proc, limit time.Duration, what, says string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("still running with %s", what)
	}
	var exit *exec.ExitError
	if !errors.As(p.waitErr, &exit) || exit.ExitCode() != 1 || !strings.Contains(p.err.String(), says) {
		t.Errorf("exit %v, want 1 saying %q\n%s", p.waitErr, says, p.err)
	}
}

// TestClusterUp: weft cluster up starts 3 NATS servers and 3 nodes that
// answer /readyz, share one token and know their node ids; a killed node
// is reported and the others stay ready; SIGTERM stops every process it
// started and exits 0.
func TestClusterUp(t *testing.T) {
	dir := t.TempDir()
	base := freePortRange(t, 9) // nodes, NATS clients, NATS routes: three each
	p := startProc(t, dir, "cluster", "up", "--port", strconv.Itoa(base), "--nats-port", strconv.Itoa(base+3),
		"--nats-cluster-port", strconv.Itoa(base+6), "--data-dir", "data", "--log-format", "json", "--log-level", "warn")
	out := p.waitStdout(t, "Ctrl-C stops everything", clusterStartLimit)

	token := regexp.MustCompile(`\n    (wft_[0-9a-f]+)\n`).FindStringSubmatch(out)
	if token == nil {
		t.Fatalf("no token printed:\n%s", out)
	}
	pids := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^  (node\d|nats\d) .* pid (\d+)`).FindAllStringSubmatch(out, -1) {
		pids[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(pids) != 6 {
		t.Fatalf("pids of %v, want 3 nodes and 3 NATS servers:\n%s", pids, out)
	}
	for i := 1; i <= 3; i++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i-1))
		want := fmt.Sprintf("node%d", i)
		if !strings.Contains(out, "http://"+addr) {
			t.Errorf("%s's address %s not printed", want, addr)
		}
		if code := readyz(addr); code != http.StatusOK {
			t.Errorf("%s /readyz: %d", want, code)
		}
		if got := nodeOf(t, addr, token[1]); got != want {
			t.Errorf("server.info on %s: node %q, want %q", addr, got, want)
		}
	}

	// A node killed is reported, with how to start it again; the others
	// stay ready.
	if err := syscall.Kill(pids["node2"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, p, `node2 exited; to start it again: `)
	for _, port := range []int{base, base + 2} {
		if code := readyz(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); code != http.StatusOK {
			t.Errorf("port %d: /readyz %d after node2 died", port, code)
		}
	}

	p.stop(t)
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) outlived cluster up: %v", name, pid, err)
		}
	}
}

func readyz(addr string) int {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// nodeOf asks a node's server.info with token for its node id.
func nodeOf(t *testing.T, addr, token string) string {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/api/v1/socket", h)
	if err != nil {
		t.Fatalf("dial %s with the printed token: %v", addr, err)
	}
	w := &wsConn{c: c}
	defer c.Close()
	if f, err := w.read(time.Now().Add(5 * time.Second)); err != nil || f.Type != "connected" {
		t.Fatalf("first frame %v: %v", f, err)
	}
	f, err := w.call("server.info", map[string]any{})
	if err != nil || f.Error != nil {
		t.Fatalf("server.info: %v %v", f, err)
	}
	var info struct {
		Node string `json:"node"`
	}
	if err := json.Unmarshal(f.Response, &info); err != nil {
		t.Fatal(err)
	}
	return info.Node
}

// waitStderr waits until the process's stderr holds want.
func waitStderr(t *testing.T, p *proc, want string) {
	t.Helper()
	deadline := time.Now().Add(clusterStopLimit)
	for !strings.Contains(p.err.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr does not say %q within %v", want, clusterStopLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterUpBusyPort: a node that cannot start (its port is taken)
// ends cluster up with exit 1 naming it, after it has stopped the NATS
// servers it started.
func TestClusterUpBusyPort(t *testing.T) {
	base := freePortRange(t, 7) // a node, NATS clients and routes
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := startProc(t, t.TempDir(), "cluster", "up", "--nodes", "1", "--port", strconv.Itoa(base),
		"--nats-port", strconv.Itoa(base+1), "--nats-cluster-port", strconv.Itoa(base+4), "--data-dir", "data", "--log-format", "json")
	expectFailure(t, p, clusterStartLimit, "node1's port taken", "node1 exited before it was ready")
	for port := base + 1; port < base+7; port++ {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			c.Close()
			t.Errorf("port %d still accepts connections: a NATS server outlived cluster up", port)
		}
	}
}
