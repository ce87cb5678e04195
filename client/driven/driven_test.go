package driven_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/client/driven"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// echoServer echoes every message; with dropAfter > 0 it closes each
// connection after echoing that many messages.
type echoServer struct {
	*httptest.Server
	conns atomic.Int64
	sent  atomic.Int64 // messages received from workflows
}

func newEcho(t *testing.T, dropAfter int) *echoServer {
	e := &echoServer{}
	up := websocket.Upgrader{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		e.conns.Add(1)
		for n := 1; ; n++ {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			e.sent.Add(1)
			if err := ws.WriteMessage(typ, data); err != nil {
				return
			}
			if dropAfter > 0 && n == dropAfter {
				return
			}
		}
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) url() string { return "ws" + strings.TrimPrefix(e.URL, "http") }

type driveInput struct {
	URL      string `json:"url"`
	N        int    `json:"n"`
	Requests bool   `json:"requests"` // exchange with Request instead of Send + Receive
}

// drive sends N messages and receives their echoes, as recorded steps.
func drive(ctx workflows.Context, in driveInput) ([]int, error) {
	conn := driven.New(in.URL, driven.Options{
		Reconnect: client.ReconnectPolicy{Base: time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 3},
		Retry:     workflows.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond},
	})
	defer conn.Close()
	var got []int
	for i := 1; i <= in.N; i++ {
		if in.Requests {
			reply, err := driven.Request[map[string]int](ctx, conn, map[string]int{"i": i})
			if err != nil {
				return nil, err
			}
			got = append(got, reply["i"])
			continue
		}
		if err := conn.Send(ctx, map[string]int{"i": i}); err != nil {
			return nil, err
		}
		reply, err := driven.Receive[map[string]int](ctx, conn, workflows.WithTimeout(10*time.Second))
		if err != nil {
			return nil, err
		}
		got = append(got, reply["i"])
	}
	// Request: send and receive in one step; plain text comes back as a string.
	text, err := driven.Request[string](ctx, conn, "plain text")
	if err != nil {
		return nil, err
	}
	if text != "plain text" {
		return nil, workflows.NonRetryable(errors.New("request got " + text))
	}
	return got, nil
}

func startServer(t *testing.T) *client.Client {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, []byte(`{"keys":[{"token":"tok","identity":"alice","workspace":"acme","scopes":["admin"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := workflows.NewRegistry()
	workflows.Register(reg, "drive", drive)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, KeysFile: keys, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+srv.Addr()+"/api/v1/socket", client.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func run(t *testing.T, c *client.Client, in driveInput) ([]client.Event, json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exec, err := c.Start(ctx, "drive", in)
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.Event
	for ev := range exec.Events() {
		evs = append(evs, ev)
	}
	res, err := exec.Result(ctx)
	return evs, res, err
}

func steps(evs []client.Event, typ string) []string {
	var names []string
	for _, ev := range evs {
		if ev.Type == typ {
			var d struct {
				Name string `json:"name"`
			}
			_ = ev.DecodeDetails(&d)
			names = append(names, d.Name)
		}
	}
	return names
}

func TestSendReceiveAsRecordedSteps(t *testing.T) {
	echo := newEcho(t, 0)
	c := startServer(t)
	evs, res, err := run(t, c, driveInput{URL: echo.url(), N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != "[1,2,3]" {
		t.Fatalf("result %s", res)
	}
	want := "ws.send,ws.receive,ws.send,ws.receive,ws.send,ws.receive,ws.request"
	if got := strings.Join(steps(evs, "task_end"), ","); got != want {
		t.Fatalf("steps %s, want %s", got, want)
	}
	if n := echo.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// The external server drops the connection after each echo: every next
// exchange dials again and gets its answer.
func TestReconnectsAfterDrops(t *testing.T) {
	echo := newEcho(t, 1)
	c := startServer(t)
	evs, res, err := run(t, c, driveInput{URL: echo.url(), N: 4, Requests: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != "[1,2,3,4]" {
		t.Fatalf("result %s", res)
	}
	if n := echo.conns.Load(); n < 5 {
		t.Fatalf("%d connections, want one per exchange (5)", n)
	}
	if got := strings.Join(steps(evs, "task_end"), ","); got != "ws.request,ws.request,ws.request,ws.request,ws.request" {
		t.Fatalf("steps %s", got)
	}
}

// Nothing listens: the step fails with WS_CONNECTION_FAILED (retryable,
// so it is retried per the step policy), then the execution fails with it.
func TestConnectionFailed(t *testing.T) {
	echo := newEcho(t, 0)
	url := echo.url()
	echo.Close()
	c := startServer(t)
	evs, _, err := run(t, c, driveInput{URL: url, N: 1})
	var xe *client.ExecutionError
	if !errors.As(err, &xe) || xe.Code != driven.CodeConnectionFailed {
		t.Fatalf("result err = %v, want an execution failed with WS_CONNECTION_FAILED", err)
	}
	var retried bool
	for _, ev := range evs {
		if ev.Type != "task_error" {
			continue
		}
		var d struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
			WillRetry bool `json:"will_retry"`
		}
		_ = ev.DecodeDetails(&d)
		if d.Error.Code != driven.CodeConnectionFailed {
			t.Fatalf("task_error code %q", d.Error.Code)
		}
		retried = retried || d.WillRetry
	}
	if !retried {
		t.Fatal("WS_CONNECTION_FAILED was not retried")
	}
}
