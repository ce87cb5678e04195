package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// socketPair returns a server-side and a client-side gorilla connection
// over loopback TCP.
func socketPair(b *testing.B) (server, client *websocket.Conn) {
	b.Helper()
	got := make(chan *websocket.Conn, 1)
	up := websocket.Upgrader{WriteBufferPool: &sync.Pool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			b.Error(err)
			return
		}
		got <- c
	}))
	b.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	server = <-got
	b.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

var eventFrame = []byte(`{"id":"r1","type":"llm_delta","data":{"timestamp":"2026-11-23T15:00:00.000000000Z","execution_id":"exec_06h0htx7t7dtttxd12frzs91","workflow":"stream","seq":123,"details":{"step_id":"1","text":"xxxxxxxxxxxxxxxx"}}}`)

// drain reads n frames on the client side.
func drain(b *testing.B, c *websocket.Conn, n int, done chan<- struct{}) {
	for range n {
		if _, _, err := c.ReadMessage(); err != nil {
			b.Error(err)
			break
		}
	}
	close(done)
}

// BenchmarkBareGorillaEvents is the raw limit: one goroutine writing
// event-sized frames to one socket with plain gorilla, as fast as it can.
func BenchmarkBareGorillaEvents(b *testing.B) {
	server, client := socketPair(b)
	done := make(chan struct{})
	go drain(b, client, b.N, done)
	b.ResetTimer()
	for range b.N {
		if err := server.WriteMessage(websocket.TextMessage, eventFrame); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkOutboxWritePath is weft's connection write path: frames pushed
// to a connection's outbox (waiting for room as request streams do) and
// written by its lazy writer.
func BenchmarkOutboxWritePath(b *testing.B) {
	server, client := socketPair(b)
	out := newOutbox(server, Config{}.WithDefaults())
	done := make(chan struct{})
	go drain(b, client, b.N, done)
	b.ResetTimer()
	for range b.N {
		if err := out.pushWait(b.Context(), eventFrame); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
