package ws

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// inlinePair returns a server-side socket with its outbox (inline writes
// allowed) and the client side.
func inlinePair(t *testing.T, cfg Config) (*outbox, *websocket.Conn) {
	t.Helper()
	got := make(chan *websocket.Conn, 1)
	up := websocket.Upgrader{WriteBufferPool: &sync.Pool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server := <-got
	o := newOutbox(server, cfg.WithDefaults())
	o.allowInline(false)
	t.Cleanup(func() { o.abort(); client.Close() })
	return o, client
}

// Shared frames written inline, frames the socket took only part of, and
// frames queued behind them reach the client whole and in push order,
// while the client does not read (its buffers fill, so inline writes come
// out partial and the writer finishes them); no push waits for the
// client.
func TestInlineWritesKeepOrderWhenTheSocketFills(t *testing.T) {
	o, client := inlinePair(t, Config{OutboxFrames: 100000, OutboxBytes: 1 << 30})
	const n = 3000
	pad := strings.Repeat("x", 3000)
	for i := range n {
		frame := []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad))
		start := time.Now()
		var ok bool
		if i%3 == 2 {
			ok = o.push(frame) // the actor's own frames (a response)
		} else {
			ok = o.pushShared(newSharedFrame(frame))
		}
		if !ok {
			t.Fatalf("push %d: outbox full", i)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("push %d took %v: it waited for the client", i, d)
		}
	}
	o.mu.Lock()
	queued := len(o.frames)
	o.mu.Unlock()
	if queued == 0 {
		t.Log("nothing queued: the socket took every frame (no partial write exercised)")
	}
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		_, data, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := fmt.Sprintf(`{"n":%d,`, i); !strings.HasPrefix(string(data), want) || len(data) != len(pad)+len(want)+9 {
			t.Fatalf("frame %d is %.40s (%d bytes), want %s...", i, data, len(data), want)
		}
	}
	// A ping and a close after all that still arrive whole.
	if err := o.ping(); err != nil {
		t.Fatal(err)
	}
	o.close(closeRequest{code: closeTryAgainLater, reason: "bye", flush: true})
	close(o.readerDone)
	_, _, err := client.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != closeTryAgainLater {
		t.Fatalf("after the frames: %v, want close 1013", err)
	}
}

// An idle outbox writes a shared frame inline: no writer goroutine starts.
func TestIdleOutboxWritesInline(t *testing.T) {
	o, client := inlinePair(t, Config{})
	for i := range 100 {
		if !o.pushShared(newSharedFrame([]byte(fmt.Sprintf(`{"n":%d}`, i)))) {
			t.Fatal("full")
		}
		_, data, err := client.ReadMessage()
		if err != nil || string(data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("frame %d: %s %v", i, data, err)
		}
		o.mu.Lock()
		writing := o.writing
		o.mu.Unlock()
		if writing {
			t.Fatalf("frame %d started a writer goroutine", i)
		}
	}
}

// Frames of every length class (7-bit, 16-bit and 64-bit lengths) are
// framed as gorilla frames them.
func TestSharedFrameLengths(t *testing.T) {
	o, client := inlinePair(t, Config{MaxMessageBytes: 1 << 20})
	for _, size := range []int{0, 125, 126, 65535, 65536, 200000} {
		payload := strings.Repeat("y", size)
		if !o.pushShared(newSharedFrame([]byte(payload))) {
			t.Fatal("full")
		}
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		typ, data, err := client.ReadMessage()
		if err != nil || typ != websocket.TextMessage || string(data) != payload {
			t.Fatalf("size %d: type %d, %d bytes, %v", size, typ, len(data), err)
		}
	}
}
