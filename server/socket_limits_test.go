package server_test

import (
	"errors"
	"fmt"
	"github.com/weft-run/weft/internal/logbuf"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
)

// ignoringCloser is a client that never answers the server's close frame
// and keeps sending frames: it must not keep its slot.
func ignoringCloser(t *testing.T, ts *testServer) (dropped <-chan time.Duration) {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(ts.url("/api/v1/socket"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetCloseHandler(func(int, string) error { return nil }) // no close frame back
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"auth","token":"wrong"}`)); err != nil {
		t.Fatal(err)
	}
	// Read until the server's close frame (4001), then keep writing.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4001 {
				t.Fatalf("want close 4001, got %v", err)
			}
			break
		}
	}
	closedAt := time.Now()
	out := make(chan time.Duration, 1)
	go func() {
		raw := conn.NetConn()
		frame := []byte{0x81, 0x80, 1, 2, 3, 4} // a masked, empty text frame
		for range 400 {                         // 8 s at most
			time.Sleep(20 * time.Millisecond)
			if _, err := raw.Write(frame); err != nil {
				out <- time.Since(closedAt)
				return
			}
		}
		out <- time.Hour
	}()
	return out
}

func TestCloseHandshakeIgnoredStillFreesTheSlot(t *testing.T) {
	ts := startServerWith(t, ws.Config{MaxConnections: 2})
	a, b := ignoringCloser(t, ts), ignoringCloser(t, ts)
	for _, dropped := range []<-chan time.Duration{a, b} {
		if d := <-dropped; d > 4*time.Second {
			t.Fatalf("TCP connection still open %v after the close frame, want it dropped within 2 s", d)
		}
	}
	dial(t, ts, adminToken) // a valid client gets in
}

func TestBurstGetsAnswersAndRateLimitedButStaysOpen(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	for i := range 300 {
		c.request(fmt.Sprint("p", i), "ping", nil)
	}
	answered, limited := 0, 0
	for range 300 {
		f := c.read()
		switch {
		case f.Error == nil:
			answered++
		case f.Error.Code == "RATE_LIMITED":
			limited++
		default:
			t.Fatalf("unexpected error %+v", f.Error)
		}
	}
	// The bucket refills at 100/s while the burst is sent and read: a
	// slow machine lets a few more through.
	if answered < 100 || answered > 130 || answered+limited != 300 {
		t.Fatalf("%d answered, %d RATE_LIMITED; want about 100 and the rest limited", answered, limited)
	}
	time.Sleep(1100 * time.Millisecond)
	if f := c.call("after", "ping", nil); f.Error != nil {
		t.Fatalf("socket should still serve after a burst: %+v", f.Error)
	}
}

// An abusive client is closed with 1008, but every start the server
// accepted is acknowledged before the close: no execution the client does
// not know about.
func TestAbuseCloseNeverSwallowsAnAcknowledgement(t *testing.T) {
	ts := startServerWith(t, ws.Config{MessagesPerSecond: 50, AbuseAfter: 500 * time.Millisecond})
	c := dial(t, ts, adminToken)
	var sent atomic.Int64
	go func() {
		for i := range 3000 { // 3 s at most
			req := map[string]any{"id": fmt.Sprint("s", i), "service": "workflow.start",
				"request": map[string]any{"name": "echo", "parameters": map[string]any{}, "subscribe": false}}
			if c.conn.WriteJSON(req) != nil {
				return
			}
			sent.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	acks := map[string]bool{}
	_ = c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	code := 0
	for code == 0 {
		var f frame
		err := c.conn.ReadJSON(&f)
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			code = ce.Code
		case err != nil:
			t.Fatalf("read ended without a close frame: %v", err)
		case f.Error == nil && strings.HasPrefix(f.ID, "s"):
			acks[decode[struct {
				ExecutionID string `json:"execution_id"`
			}](t, f.Response).ExecutionID] = true
		}
	}
	if code != 1008 {
		t.Fatalf("close %d, want 1008", code)
	}
	other := dial(t, ts, adminToken)
	stored := listAll(t, other, "echo")
	if len(stored) != len(acks) {
		t.Fatalf("%d executions stored, %d acknowledged: a close swallowed acknowledgements", len(stored), len(acks))
	}
	for _, id := range stored {
		if !acks[id] {
			t.Fatalf("execution %s stored but never acknowledged", id)
		}
	}
	t.Logf("%d frames sent, %d starts acknowledged before the 1008", sent.Load(), len(acks))
}

// listAll lists the ids of every execution of workflow.
func listAll(t *testing.T, c *client, workflow string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for {
		f := c.call("list"+cursor, "executions.list", map[string]any{"workflow": workflow, "limit": 1000, "cursor": cursor})
		if f.Error != nil {
			t.Fatalf("list: %+v", f.Error)
		}
		page := decode[struct {
			Items []struct {
				ExecutionID string `json:"execution_id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}](t, f.Response)
		for _, it := range page.Items {
			ids = append(ids, it.ExecutionID)
		}
		if page.NextCursor == "" {
			return ids
		}
		cursor = page.NextCursor
	}
}

func expectLimitExceeded(t *testing.T, f frame, what string) {
	t.Helper()
	if f.Error == nil || f.Error.Code != "LIMIT_EXCEEDED" || f.Error.Retryable {
		t.Fatalf("%s: got %+v, want LIMIT_EXCEEDED (not retryable)", what, f)
	}
}

func startWaiting(t *testing.T, c *client, id string) (frame, string) {
	t.Helper()
	f := c.call(id, "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{}, "subscribe": false})
	if f.Error != nil {
		return f, ""
	}
	return f, decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, f.Response).ExecutionID
}

func TestRequestsInFlightPerConnection(t *testing.T) {
	ts := startServerWith(t, ws.Config{MaxInflight: 3})
	c := dial(t, ts, adminToken)
	_, exec := startWaiting(t, c, "start")
	for i := range 3 {
		c.request(fmt.Sprint("sub", i), "execution.subscribe", map[string]any{"execution_id": exec})
		if f := c.read(); f.Error != nil {
			t.Fatalf("subscription %d: %+v", i, f.Error)
		}
	}
	expectLimitExceeded(t, c.call("sub3", "execution.subscribe", map[string]any{"execution_id": exec}), "fourth subscription")
	if f := c.call("u", "execution.unsubscribe", map[string]any{"subscription": "sub0"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	// The freed slot is usable once the cancelled goroutine has ended.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.request("sub4", "execution.subscribe", map[string]any{"execution_id": exec})
		f := c.read()
		if f.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after unsubscribe: %+v", f.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQuotas(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) {
		c.Quotas = actors.Quotas{RoomsPerConnection: 2, SignalsPerExecution: 2, ExecutionsPerWorkspace: 2}
	})
	c := dial(t, ts, adminToken)

	t.Run("rooms per connection", func(t *testing.T) {
		for _, room := range []string{"a", "b"} {
			if f := c.call("j"+room, "room.join", map[string]any{"room": room}); f.Error != nil {
				t.Fatal(f.Error)
			}
		}
		expectLimitExceeded(t, c.call("jc", "room.join", map[string]any{"room": "c"}), "third room")
		if f := c.call("ja", "room.join", map[string]any{"room": "a"}); f.Error != nil {
			t.Fatalf("joining a room again is no new room: %+v", f.Error)
		}
		c.call("la", "room.leave", map[string]any{"room": "a"})
		if f := c.call("jc2", "room.join", map[string]any{"room": "c"}); f.Error != nil {
			t.Fatalf("after a leave: %+v", f.Error)
		}
	})

	var first string
	t.Run("unfinished executions per workspace", func(t *testing.T) {
		_, first = startWaiting(t, c, "w1")
		startWaiting(t, c, "w2")
		f, _ := startWaiting(t, c, "w3")
		expectLimitExceeded(t, f, "third waiting execution")
		other := dial(t, ts, otherToken)
		if f, _ := startWaiting(t, other, "o1"); f.Error != nil {
			t.Fatalf("another workspace has its own quota: %+v", f.Error)
		}
	})

	t.Run("signals per execution", func(t *testing.T) {
		for i := range 2 {
			if f := c.call(fmt.Sprint("sig", i), "execution.signal", map[string]any{"execution_id": first, "name": "not-awaited"}); f.Error != nil {
				t.Fatal(f.Error)
			}
		}
		expectLimitExceeded(t, c.call("sig2", "execution.signal", map[string]any{"execution_id": first, "name": "not-awaited"}), "third signal")
	})

	t.Run("an ended execution frees its slot", func(t *testing.T) {
		if f := c.call("cancel", "execution.cancel", map[string]any{"execution_id": first}); f.Error != nil {
			t.Fatal(f.Error)
		}
		waitStatus(t, c, first, "cancelled")
		if f, _ := startWaiting(t, c, "w4"); f.Error != nil {
			t.Fatalf("after a cancel: %+v", f.Error)
		}
	})
}

func TestConnectionsPerAddress(t *testing.T) {
	ts := startServerWith(t, ws.Config{MaxConnectionsPerIP: 3, MaxUnauthenticatedPerIP: 1})
	pending := dialRaw(t, ts.url("/api/v1/socket"), nil) // waits for in-band auth
	if _, resp, err := websocket.DefaultDialer.Dial(ts.url("/api/v1/socket"), nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second unauthenticated socket from one address: %v, want 503", err)
	}
	dial(t, ts, adminToken) // authenticated at the upgrade: not pending
	pending.send(`{"type":"auth","token":"` + adminToken + `"}`)
	if f := pending.read(); f.Type != "connected" {
		t.Fatalf("in-band auth: %+v", f)
	}
	dial(t, ts, adminToken) // third from this address
	expectRefused(t, ts, adminToken, http.StatusServiceUnavailable, "WS_MAX_CONNECTIONS_REACHED")
}

func TestBadFramesClosedOrRefused(t *testing.T) {
	ts := startServer(t, "")
	t.Run("binary frame", func(t *testing.T) {
		c := dial(t, ts, adminToken)
		if err := c.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"id":"b","service":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if f := c.read(); f.Error == nil || f.Error.Code != "INVALID_REQUEST" {
			t.Fatalf("binary frame: %+v, want INVALID_REQUEST", f)
		}
		if f := c.call("p", "ping", nil); f.Error != nil {
			t.Fatalf("the socket stays open: %+v", f.Error)
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		c := dial(t, ts, adminToken)
		// gorilla's client does not check what it sends: write raw bytes.
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte("{\"id\":\"u\",\"service\":\"ping\",\"x\":\"\xff\xfe\"}")); err != nil {
			t.Fatal(err)
		}
		if code := c.expectClose(); code != websocket.CloseInvalidFramePayloadData {
			t.Fatalf("close %d, want 1007", code)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		c := dial(t, ts, adminToken)
		c.send(`{"id":"d","service":"ping","request":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`)
		if f := c.read(); f.Error == nil || f.Error.Code != "INVALID_REQUEST" || !strings.Contains(f.Error.Message, "nested") {
			t.Fatalf("deep frame: %+v, want INVALID_REQUEST", f)
		}
	})
}

// Sockets that authenticate in-band count against their address's rate
// like any unauthenticated request: a client cannot guess tokens as fast
// as it can reconnect.
func TestInBandAuthUpgradesLimitedPerAddress(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) {
		c.HTTP.RatePerIP, c.HTTP.BurstPerIP = 0.1, 3
	})
	refused := 0
	for range 6 {
		conn, resp, err := websocket.DefaultDialer.Dial(ts.url("/api/v1/socket"), nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("dial: %v, want 429 once the burst is spent", err)
			}
			refused++
			continue
		}
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"auth","token":"guess"}`))
		conn.Close()
	}
	if refused != 3 {
		t.Fatalf("%d of 6 in-band upgrades refused, want 3 (burst 3)", refused)
	}
	dial(t, ts, adminToken) // a good token at the upgrade is not limited
}

// A client that closes with many subscriptions open ends them quietly:
// their cancellation is not an error to log, and the in-band auth failure
// is logged with the address, never the token.
func TestClosingWithSubscriptionsLogsNoErrors(t *testing.T) {
	var logs logbuf.Buffer
	ts := bootServer(t, "", logTo(&logs))
	c := dial(t, ts, adminToken)
	_, exec := startWaiting(t, c, "start")
	for i := range 50 {
		c.request(fmt.Sprint("sub", i), "execution.subscribe", map[string]any{"execution_id": exec})
		if f := c.read(); f.Error != nil {
			t.Fatal(f.Error)
		}
	}
	c.conn.Close()
	bad := dialRaw(t, ts.url("/api/v1/socket"), nil)
	bad.send(`{"type":"auth","token":"tok-inband-guess-5e2d"}`)
	bad.expectClose()
	time.Sleep(300 * time.Millisecond) // the server notices the close and ends the requests
	out := logs.String()
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, `"level":"error"`) || strings.Contains(line, "request failed") {
			t.Errorf("closing with subscriptions logged: %s", line)
		}
	}
	if strings.Contains(out, "tok-inband-guess-5e2d") {
		t.Errorf("the logs hold an in-band token")
	}
	if !strings.Contains(out, "in-band authentication failed") || !strings.Contains(out, `"remote_addr":"127.0.0.1"`) {
		t.Errorf("no in-band failure line with the remote address in:\n%s", out)
	}
}
