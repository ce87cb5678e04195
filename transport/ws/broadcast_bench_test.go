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

	"github.com/weft-run/weft/actors"
)

// socketPairs returns n server-side sockets (each with its outbox) and
// their client sides, with permessage-deflate negotiated or not.
func socketPairs(b *testing.B, n int, compress bool) ([]*outbox, []*websocket.Conn) {
	b.Helper()
	got := make(chan *websocket.Conn, n)
	up := websocket.Upgrader{WriteBufferPool: &sync.Pool{}, EnableCompression: compress}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			b.Error(err)
			return
		}
		got <- c
	}))
	b.Cleanup(srv.Close)
	d := websocket.Dialer{EnableCompression: compress}
	outs := make([]*outbox, n)
	clients := make([]*websocket.Conn, n)
	for i := range n {
		client, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		server := <-got
		outs[i], clients[i] = newOutbox(server, Config{}.WithDefaults()), client
		b.Cleanup(func() { server.Close(); client.Close() })
	}
	return outs, clients
}

// BenchmarkBroadcastFanOut is the socket side of a room broadcast: one
// frame queued on 100 members' outboxes and written by their writers, the
// clients reading. frame=bytes is every outbox writing (and, compressed,
// deflating) the frame on its own, as before the shared frame;
// frame=prepared is the room's shared frame, prepared once
// (websocket.PreparedMessage) for all of them, queued for the writers;
// frame=shared is what a room does now: the shared frame written inline
// by the broadcaster into each idle socket (queued for the writer when the
// socket is busy or compressed).
//
//	go test -run '^$' -bench BroadcastFanOut ./transport/ws/
func BenchmarkBroadcastFanOut(b *testing.B) {
	const members = 100
	payload := []byte(`{"type":"room.message","data":{"room":"lobby","from":"ws_06h0htx7t7dtttxd12frzs91","identity":"alice","message":{"text":"` + strings.Repeat("hello everyone, ", 40) + `"}}}`)
	for _, compress := range []bool{false, true} {
		for _, mode := range []string{"bytes", "prepared", "shared"} {
			b.Run(fmt.Sprintf("compress=%v/frame=%s", compress, mode), func(b *testing.B) {
				outs, clients := socketPairs(b, members, compress)
				if mode == "shared" {
					for _, o := range outs {
						o.allowInline(compress)
					}
				}
				var wg sync.WaitGroup
				wg.Add(members)
				for _, c := range clients {
					go func() {
						defer wg.Done()
						for range b.N {
							if _, _, err := c.ReadMessage(); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				b.ResetTimer()
				for range b.N {
					f := actors.NewFrame(payload)
					for _, o := range outs {
						sf, _ := f.Prepared(prepareFrame).(*sharedFrame)
						if mode == "prepared" {
							if !o.pushPrepared(sf.pm, f.Data) {
								b.Fatal("outbox full")
							}
						} else if mode == "shared" {
							if !o.pushShared(sf) {
								b.Fatal("outbox full")
							}
						} else if !o.push(f.Data) {
							b.Fatal("outbox full")
						}
					}
					if b.N > 500 {
						// Let the writers keep up, as the bound would make
						// a real room's members do.
						for _, o := range outs {
							waitBelow(o, 512)
						}
					}
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "broadcasts/s")
				b.ReportMetric(float64(b.N*members)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}

// waitBelow waits until o holds fewer than n frames.
func waitBelow(o *outbox, n int) {
	for {
		o.mu.Lock()
		k := len(o.frames)
		o.mu.Unlock()
		if k < n {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkOutboxPaced is a busy room from one member's side: a frame at a
// time, the next once the client has read it. Before the writer lingered,
// every frame started (and ended) a writer goroutine.
//
//	go test -run '^$' -bench OutboxPaced ./transport/ws/
func BenchmarkOutboxPaced(b *testing.B) {
	outs, clients := socketPairs(b, 1, false)
	out, client := outs[0], clients[0]
	b.ResetTimer()
	for range b.N {
		if !out.push(eventFrame) {
			b.Fatal("outbox full")
		}
		if _, _, err := client.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
