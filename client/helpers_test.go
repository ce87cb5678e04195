package client_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/internal/tcpproxy"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

const (
	adminToken  = "tok-admin"
	readerToken = "tok-reader"
)

const keysJSON = `{"keys":[
 {"token":"tok-admin","identity":"alice","workspace":"acme","scopes":["admin"]},
 {"token":"tok-reader","identity":"rita","workspace":"acme","scopes":["executions:read"]}
]}`

// testServer is a real weft server with the reference workflows.
type testServer struct {
	*server.Server
	dir string
}

func (ts *testServer) url() string { return "ws://" + ts.Addr() + "/api/v1/socket" }

// startServer boots weft on addr ("" = 127.0.0.1:0) over dir ("" = a new
// temp dir). Binding a just-freed port is retried briefly.
func startServer(t testing.TB, dir, addr string) *testServer {
	t.Helper()
	return startServerWith(t, dir, addr, nil)
}

// startServerWith is startServer with edit applied to the config.
func startServerWith(t testing.TB, dir, addr string, edit func(*server.Config)) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	keys := filepath.Join(dir, "test-keys.json")
	if err := os.WriteFile(keys, []byte(keysJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	var srv *server.Server
	var err error
	for try := 0; try < 100; try++ {
		reg := workflows.NewRegistry()
		reference.Register(reg)
		cfg := server.Config{Addr: addr, DataDir: dir, KeysFile: keys, Registry: reg}
		if edit != nil {
			edit(&cfg)
		}
		srv, err = server.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err = srv.Start(context.Background()); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // the port may still be held
	}
	if err != nil {
		t.Fatalf("start server on %s: %v", addr, err)
	}
	ts := &testServer{Server: srv, dir: dir}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ts.Shutdown(ctx) // a second Shutdown (cleanup after a restart) is harmless
}

// fastReconnect keeps tests quick; the policy's shape is unchanged.
var fastReconnect = client.ReconnectPolicy{Base: 10 * time.Millisecond, Max: 200 * time.Millisecond}

func dial(t testing.TB, url string, opts client.Options) *client.Client {
	t.Helper()
	if opts.Token == "" {
		opts.Token = adminToken
	}
	if opts.Reconnect == (client.ReconnectPolicy{}) {
		opts.Reconnect = fastReconnect
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proxy is the shared test proxy (internal/tcpproxy): its connections can
// be cut, and it can refuse new ones.
type proxy struct{ *tcpproxy.Proxy }

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p, err := tcpproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &proxy{p}
}

func (p *proxy) cut()          { p.Cut() }
func (p *proxy) block(on bool) { p.Block(on) }
func (p *proxy) url() string   { return "ws://" + p.Addr() + "/api/v1/socket" }
func (p *proxy) close()        { p.Close() }

// states records state changes; wait blocks until s is reported.
type states struct {
	mu   sync.Mutex
	seen []client.State
	ch   chan client.State
}

func newStates() *states { return &states{ch: make(chan client.State, 1000)} }

func (s *states) on(st client.State, _ error) { s.ch <- st }

func (s *states) wait(t testing.TB, want client.State) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case st := <-s.ch:
			if st == want {
				return
			}
		case <-timeout:
			t.Fatalf("state %v never reported", want)
		}
	}
}

// collect reads an execution's events to the end.
func collect(t testing.TB, exec *client.Execution) []client.Event {
	t.Helper()
	var evs []client.Event
	for ev := range exec.Events() {
		evs = append(evs, ev)
	}
	if err := exec.Err(); err != nil {
		t.Fatalf("events of %s stopped: %v", exec.ID(), err)
	}
	return evs
}

// checkStream fails unless evs is seq 1..n in order, once each, ending
// with a terminal event of type last.
func checkStream(t testing.TB, evs []client.Event, last string) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d (%s) has seq %d, want %d", i, ev.Type, ev.Seq, i+1)
		}
	}
	if evs[0].Type != "execution_started" {
		t.Fatalf("first event %s", evs[0].Type)
	}
	if got := evs[len(evs)-1].Type; got != last {
		t.Fatalf("last event %s, want %s", got, last)
	}
}

func count(evs []client.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}
