// Package js_test runs the JavaScript client's Node tests (clients/js/test)
// against a real weft server: `go test ./clients/js/` (and so `make test`)
// boots the server on 127.0.0.1:0, a TCP proxy whose connections can be
// cut, and a control endpoint (cut, block, unblock, restart), then runs
// `node --test` with their addresses in the environment. `npm ci` installs
// the one dev dependency (ws) when node_modules is missing.
package js_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/internal/tcpproxy"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

const keysJSON = `{"keys":[
 {"token":"tok-admin","identity":"alice","workspace":"acme","scopes":["admin"]},
 {"token":"tok-reader","identity":"rita","workspace":"acme","scopes":["executions:read"]}
]}`

func TestNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript client's tests need Node 20+ (and npm for the ws dev dependency)")
	}
	npmCI(t)

	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, []byte(keysJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, keys: keys}
	h.start("127.0.0.1:0")
	t.Cleanup(h.stop)
	p := newProxy(t, h.addr)
	ctl := httptest.NewServer(http.HandlerFunc(h.control(p)))
	t.Cleanup(ctl.Close)

	files, _ := filepath.Glob("test/*.test.js")
	args := []string{"--test", "--test-reporter=spec"}
	if pattern := os.Getenv("WEFT_NODE_TEST_PATTERN"); pattern != "" {
		args = append(args, "--test-name-pattern="+pattern)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append(args, files...)...)
	cmd.Env = append(os.Environ(),
		"WEFT_URL=ws://"+h.addr+"/api/v1/socket",
		"WEFT_PROXY_URL=ws://"+p.addr()+"/api/v1/socket",
		"WEFT_CONTROL_URL="+ctl.URL,
		"WEFT_TOKEN=tok-admin",
		"WEFT_READER_TOKEN=tok-reader",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node tests failed: %v", err)
	}
}

// npmCI installs the dev dependencies when they are missing.
func npmCI(t *testing.T) {
	if _, err := os.Stat("node_modules/ws/package.json"); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not: install npm, or run `npm ci` in clients/js")
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("npm ci in clients/js: %v\n%s", err, out.String())
	}
}

// harness owns the server, which the control endpoint can restart on the
// same address and data dir.
type harness struct {
	t    *testing.T
	dir  string
	keys string
	mu   sync.Mutex
	srv  *server.Server
	addr string
}

func (h *harness) start(addr string) {
	var err error
	for try := 0; try < 100; try++ {
		reg := workflows.NewRegistry()
		reference.Register(reg)
		var srv *server.Server
		srv, err = server.New(server.Config{Addr: addr, DataDir: h.dir, KeysFile: h.keys, Registry: reg})
		if err != nil {
			h.t.Fatal(err)
		}
		if err = srv.Start(context.Background()); err == nil {
			h.srv, h.addr = srv, srv.Addr()
			return
		}
		time.Sleep(50 * time.Millisecond) // the port may still be held
	}
	h.t.Fatalf("start server on %s: %v", addr, err)
}

func (h *harness) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
}

func (h *harness) control(p *proxy) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		switch r.URL.Path {
		case "/cut":
			p.cut()
		case "/block":
			p.block(true)
		case "/unblock":
			p.block(false)
		case "/restart":
			h.stop()
			h.start(h.addr)
		default:
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// proxy is the shared test proxy (internal/tcpproxy): its connections can
// be cut, and it can refuse new ones.
type proxy struct{ *tcpproxy.Proxy }

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p, err := tcpproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &proxy{p}
}

func (p *proxy) addr() string  { return p.Addr() }
func (p *proxy) cut()          { p.Cut() }
func (p *proxy) block(on bool) { p.Block(on) }
