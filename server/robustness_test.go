package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
	"github.com/weft-run/weft/workflows"
)

// startServerWith boots a server with socket limits of the test's choosing.
func startServerWith(t testing.TB, sock ws.Config, extra ...func(*workflows.Registry)) *testServer {
	t.Helper()
	return bootServer(t, "", func(c *server.Config) { c.Socket = sock }, extra...)
}

func TestOversizedFrameIsRefusedWithoutBufferingIt(t *testing.T) {
	ts := startServerWith(t, ws.Config{MaxMessageBytes: 1024})
	c := dial(t, ts, adminToken)
	// Within the limit: fine.
	c.send(`{"id":"ok","service":"ping","request":{"pad":"` + strings.Repeat("x", 900) + `"}}`)
	if f := c.read(); f.ID != "ok" || f.Error != nil {
		t.Fatalf("frame under the limit: %+v", f)
	}
	// 10 MB in one frame: refused after reading 1 KB of it.
	go func() {
		_ = c.conn.WriteMessage(websocket.TextMessage, []byte(`{"id":"big","service":"ping","request":{"pad":"`+strings.Repeat("x", 10<<20)+`"}}`))
	}()
	f := c.read()
	if f.Error == nil || f.Error.Code != "WS_MESSAGE_TOO_LARGE" {
		t.Fatalf("want WS_MESSAGE_TOO_LARGE, got %+v", f)
	}
	if code := c.expectClose(); code != 1009 {
		t.Fatalf("close code %d, want 1009", code)
	}
}

func TestRateLimit(t *testing.T) {
	ts := startServerWith(t, ws.Config{MessagesPerSecond: 5, AbuseAfter: 300 * time.Millisecond})
	c := dial(t, ts, adminToken)
	for i := range 10 {
		c.request("r"+string(rune('a'+i)), "ping", nil)
	}
	limited := 0
	for range 10 {
		f := c.read()
		if f.Error != nil {
			if f.Error.Code != "RATE_LIMITED" || !f.Error.Retryable || f.ID == "" {
				t.Fatalf("error %+v, want retryable RATE_LIMITED on the request id", f)
			}
			limited++
		}
	}
	if limited < 4 || limited > 5 {
		t.Fatalf("%d of 10 frames limited, want 5 (burst 5)", limited)
	}
	// Staying over the rate for AbuseAfter: closed with 1008.
	go func() {
		for range 600 { // 3 s at most
			time.Sleep(5 * time.Millisecond)
			if c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
				return
			}
		}
	}()
	if code := c.expectClose(); code != 1008 {
		t.Fatalf("close code %d, want 1008", code)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Run("per server", func(t *testing.T) {
		ts := startServerWith(t, ws.Config{MaxConnections: 2})
		dial(t, ts, adminToken)
		dial(t, ts, otherToken)
		expectRefused(t, ts, otherToken, http.StatusServiceUnavailable, "WS_MAX_CONNECTIONS_REACHED")
	})
	t.Run("per workspace", func(t *testing.T) {
		ts := startServerWith(t, ws.Config{MaxConnectionsPerWorkspace: 1})
		first := dial(t, ts, adminToken)
		expectRefused(t, ts, readerToken, http.StatusServiceUnavailable, "WS_MAX_CONNECTIONS_REACHED")
		dial(t, ts, otherToken) // another workspace has its own budget

		// In-band auth finds out the workspace after the upgrade.
		c := dialRaw(t, ts.url("/ws"), nil)
		c.send(map[string]string{"type": "auth", "token": readerToken})
		if f := c.read(); f.Error == nil || f.Error.Code != "WS_MAX_CONNECTIONS_REACHED" || !f.Error.Retryable {
			t.Fatalf("in-band over the limit: %+v", f)
		}
		if code := c.expectClose(); code != 1013 {
			t.Fatalf("close %d, want 1013", code)
		}
		// A slot frees when a connection closes.
		first.conn.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			h := http.Header{"Authorization": {"Bearer " + readerToken}}
			conn, _, err := websocket.DefaultDialer.Dial(ts.url("/ws"), h)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slot never freed: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func expectRefused(t *testing.T, ts *testServer, token string, status int, code string) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	_, resp, err := websocket.DefaultDialer.Dial(ts.url("/api/v1/socket"), h)
	if err == nil || resp == nil || resp.StatusCode != status {
		t.Fatalf("dial: err=%v resp=%v, want HTTP %d", err, resp, status)
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if body.Error.Code != code {
		t.Fatalf("body code %q, want %q", body.Error.Code, code)
	}
}

func TestHeartbeatClosesSilentPeer(t *testing.T) {
	ts := startServerWith(t, ws.Config{HeartbeatInterval: 100 * time.Millisecond})
	alive := dial(t, ts, adminToken)
	silent := dial(t, ts, adminToken)
	// A reading client answers the pings and stays.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			alive.request("p", "ping", nil)
			if f := alive.read(); f.Error != nil {
				t.Error(f.Error)
				return
			}
			time.Sleep(80 * time.Millisecond)
		}
	}()
	// gorilla answers pings only while reading: the silent client reads
	// nothing for a while, so it sends no pong and no frame.
	time.Sleep(600 * time.Millisecond)
	_ = silent.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var err error
	for err == nil {
		_, _, err = silent.conn.ReadMessage()
	}
	if strings.Contains(err.Error(), "i/o timeout") {
		t.Fatal("silent peer was not closed")
	}
	<-done
}

func TestOriginCheck(t *testing.T) {
	ts := startServerWith(t, ws.Config{AllowedOrigins: []string{"https://app.example.com"}})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{{"https://app.example.com", true}, {"https://evil.example.com", false}, {"", true}} {
		h := http.Header{"Authorization": {"Bearer " + adminToken}}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(ts.url("/ws"), h)
		if (err == nil) != tc.ok {
			t.Fatalf("origin %q: err=%v, want ok=%v", tc.origin, err, tc.ok)
		}
		if err == nil {
			conn.Close()
		} else if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q refused with HTTP %d, want 403", tc.origin, resp.StatusCode)
		}
	}
	// Default: same origin only.
	ts2 := startServerWith(t, ws.Config{})
	h := http.Header{"Authorization": {"Bearer " + adminToken}, "Origin": {"http://" + ts2.Addr()}}
	conn, _, err := websocket.DefaultDialer.Dial(ts2.url("/ws"), h)
	if err != nil {
		t.Fatalf("same origin refused: %v", err)
	}
	conn.Close()
	h.Set("Origin", "http://elsewhere.example")
	if _, _, err := websocket.DefaultDialer.Dial(ts2.url("/ws"), h); err == nil {
		t.Fatal("cross origin accepted by default")
	}
}

func TestCompressionIsNegotiated(t *testing.T) {
	ts := startServer(t, "")
	d := websocket.Dialer{EnableCompression: true}
	conn, resp, err := d.Dial(ts.url("/ws"), http.Header{"Authorization": {"Bearer " + adminToken}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions %q", ext)
	}
	c := &client{t: t, conn: conn}
	if f := c.read(); f.Type != "connected" {
		t.Fatalf("first frame %+v", f)
	}
	frames := startAndCollect(t, c, "e", "echo", map[string]any{"z": strings.Repeat("compress me ", 100)})
	if frames[len(frames)-1].Type != "execution_completed" {
		t.Fatal(eventTypes(frames))
	}
}

// bigEvents registers a workflow whose task_start events are large, to
// fill a slow reader's buffers quickly.
func bigEvents(reg *workflows.Registry) {
	workflows.Register(reg, "big-events", func(ctx workflows.Context, in struct {
		N int `json:"n"`
	}) (int, error) {
		pad := strings.Repeat("p", 32<<10)
		for i := range in.N {
			if _, err := workflows.Task(ctx, "big", func(context.Context) (int, error) { return i, nil }, workflows.WithInput(pad)); err != nil {
				return 0, err
			}
		}
		return in.N, nil
	})
}

func TestSlowConsumerIsClosedAndOthersKeepUp(t *testing.T) {
	ts := startServerWith(t, ws.Config{OutboxFrames: 16, OutboxBytes: 64 << 10, WriteTimeout: 300 * time.Millisecond}, bigEvents)
	fast := dial(t, ts, adminToken)
	// The slow client has a tiny TCP receive buffer and stops reading.
	slow := dialSlowReader(t, ts)

	f := fast.call("s", "workflow.start", map[string]any{"name": "big-events", "parameters": map[string]int{"n": 600}, "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	slow.request("sub", "execution.subscribe", map[string]any{"execution_id": id})
	began := time.Now()
	fastFrames := fast.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
	t.Logf("fast client read %d frames in %s", len(fastFrames), time.Since(began))
	checkSeqs(t, fastFrames, 1)
	if last := fastFrames[len(fastFrames)-1]; last.Type != "execution_completed" {
		t.Fatalf("fast client ended with %s", last.Type)
	}
	// The slow client, reading at last (after more than the write
	// timeout), finds its stream cut: the server dropped it.
	time.Sleep(time.Second)
	_ = slow.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	events := 0
	for {
		_, data, err := slow.conn.ReadMessage()
		if err != nil {
			if strings.Contains(err.Error(), "i/o timeout") {
				t.Fatalf("slow consumer was never closed (read %d frames)", events)
			}
			// 1013 when the close frame could still be written; a client
			// that read nothing for the whole grace period finds the
			// connection dropped (1006) instead.
			if ce, ok := err.(*websocket.CloseError); ok && ce.Code != 1013 && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("close code %d, want 1013 or 1006", ce.Code)
			}
			break
		}
		if strings.Contains(string(data), `"execution_completed"`) {
			t.Fatal("slow consumer received the whole stream")
		}
		events++
	}
	t.Logf("slow consumer got %d frames before the close; fast got %d", events, len(fastFrames))
}

func TestResumeAfterNetworkDrop(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	id := startCountdown(t, c, "s", 40, 10)
	c.request("sub", "execution.subscribe", map[string]any{"execution_id": id})
	var got []frame
	for len(got) < 12 {
		if f := c.read(); f.ID == "sub" && f.Type != "" {
			got = append(got, f)
		}
	}
	_ = c.conn.UnderlyingConn().Close() // the network drops: no close frame
	lastSeen := got[len(got)-1].event(t).Seq

	c2 := dial(t, ts, adminToken)
	rest := c2.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id, "after_seq": lastSeen})
	all := append(append([]frame{}, got...), rest[1:]...)
	checkSeqs(t, all, 1)
	if last := all[len(all)-1]; last.Type != "execution_completed" || !last.Complete {
		t.Fatalf("resumed stream ended with %s", last.Type)
	}
}
