package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// Tokens of the test keys file.
const (
	adminToken  = "tok-admin"
	readerToken = "tok-reader"
	otherToken  = "tok-other-workspace"
)

const keysJSON = `{"keys":[
 {"token":"tok-admin","identity":"alice","workspace":"acme","scopes":["admin"]},
 {"token":"tok-reader","identity":"rita","workspace":"acme","scopes":["executions:read"]},
 {"token":"tok-other-workspace","identity":"bob","workspace":"globex","scopes":["admin"]}
]}`

// testServer is a real weft server on 127.0.0.1:0 with its own data dir.
type testServer struct {
	*server.Server
	dir string
	reg *workflows.Registry
}

func (ts *testServer) url(path string) string { return "ws://" + ts.Addr() + path }

// startServer boots weft with the reference workflows (plus extra
// registrations) on a fresh or given data dir, stopped at test end.
func startServer(t testing.TB, dir string, extra ...func(*workflows.Registry)) *testServer {
	t.Helper()
	return bootServer(t, dir, nil, extra...)
}

// bootServer is the one way tests boot weft: the reference workflows plus
// extra registrations, the test keys file, the JWT secret, and whatever
// adjust changes in the configuration; stopped at test end.
func bootServer(t testing.TB, dir string, adjust func(*server.Config), extra ...func(*workflows.Registry)) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	keys := filepath.Join(dir, "test-keys.json")
	if err := os.WriteFile(keys, []byte(keysJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := workflows.NewRegistry()
	reference.Register(reg)
	for _, f := range extra {
		f(reg)
	}
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, KeysFile: keys, Registry: reg, JWTSecret: jwtSecret}
	if adjust != nil {
		adjust(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, dir: dir, reg: reg}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// client is a test WebSocket client.
type client struct {
	t    testing.TB
	conn *websocket.Conn
}

// frame is any server frame.
type frame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     json.RawMessage `json:"data"`
	Error    *struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Retryable bool   `json:"retryable"`
	} `json:"error"`
	Complete bool `json:"complete"`
}

// eventData is the data of an event frame.
type eventData struct {
	Timestamp   time.Time       `json:"timestamp"`
	ExecutionID string          `json:"execution_id"`
	Workflow    string          `json:"workflow"`
	Seq         uint64          `json:"seq"`
	Details     json.RawMessage `json:"details"`
}

func (f frame) event(t testing.TB) eventData {
	t.Helper()
	var d eventData
	if err := json.Unmarshal(f.Data, &d); err != nil {
		t.Fatalf("event data %s: %v", f.Data, err)
	}
	return d
}

// dial connects with the token in the Authorization header and reads the
// connected frame.
func dial(t testing.TB, ts *testServer, token string) *client {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	c := dialRaw(t, ts.url("/api/v1/socket"), h)
	if f := c.read(); f.Type != "connected" {
		t.Fatalf("first frame = %+v, want connected", f)
	}
	return c
}

func dialRaw(t testing.TB, url string, h http.Header) *client {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

func (c *client) send(v any) {
	c.t.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	case []byte:
		data = v
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request sends a request envelope.
func (c *client) request(id, service string, req any) {
	c.t.Helper()
	c.send(map[string]any{"id": id, "service": service, "request": req})
}

// read returns the next frame, failing the test after 10 s.
func (c *client) read() frame {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// readUntilComplete collects frames of request id until its last one.
func (c *client) readUntilComplete(id string) []frame {
	c.t.Helper()
	var out []frame
	for {
		f := c.read()
		if f.ID != id {
			continue
		}
		out = append(out, f)
		if f.Complete || f.Error != nil {
			return out
		}
	}
}

// call sends a request and returns its single final frame.
func (c *client) call(id, service string, req any) frame {
	c.t.Helper()
	c.request(id, service, req)
	frames := c.readUntilComplete(id)
	return frames[len(frames)-1]
}

// expectClose reads until the server closes and returns the close code.
func (c *client) expectClose() int {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code
		}
		c.t.Fatalf("read ended without a close frame: %v", err)
	}
}

func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// eventTypes lists the types of event frames.
func eventTypes(frames []frame) string {
	var types []string
	for _, f := range frames {
		if f.Type != "" {
			types = append(types, f.Type)
		}
	}
	return strings.Join(types, ",")
}

// checkSeqs fails unless the event frames carry seq first, first+1, ...
func checkSeqs(t testing.TB, frames []frame, first uint64) {
	t.Helper()
	want := first
	for _, f := range frames {
		if f.Type == "" {
			continue
		}
		if got := f.event(t).Seq; got != want {
			t.Fatalf("event %s has seq %d, want %d", f.Type, got, want)
		}
		want++
	}
}

// dialSlowReader connects a client whose TCP receive buffer is bounded
// (1 MiB) and reads the connected frame: a test that then stops reading
// from it has a slow consumer whose socket fills in bounded time.
func dialSlowReader(t testing.TB, ts *testServer) *client {
	t.Helper()
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		conn, err := net.Dial(network, addr)
		if err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(1 << 20)
		}
		return conn, err
	}}
	conn, _, err := d.Dial(ts.url("/ws"), http.Header{"Authorization": {"Bearer " + adminToken}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn}
	c.read() // connected
	return c
}
