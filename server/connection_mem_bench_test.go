package server_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
)

// BenchmarkIdleConnectionMemory measures what one idle authenticated socket
// costs the server: b.N sockets opened and authenticated, then the growth of
// live heap and of goroutine stacks (after two collections) divided by b.N.
// The client side shares the process but is a bare TCP connection (the
// handshake and the connected frame are read by hand, no client goroutine),
// about 0.3 KiB of the heap figure.
//
//	go test -run '^$' -bench IdleConnectionMemory -benchtime 5000x ./server/
//
// With WEFT_CONN_HEAP_PROFILE=file (and -memprofilerate 1) it also writes
// the heap profile taken while the sockets are open.
//
// The figure that matters in production is the process's RSS, which also
// holds garbage not yet collected and free heap not yet returned to the OS:
// `weft bench connections --local --n 10000` measures that.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	ts := bootServer(b, "", func(c *server.Config) {
		c.Socket = ws.Config{MaxConnections: 100000, MaxConnectionsPerIP: -1}
	})
	// One socket first, so that what every server grows once (pools, maps,
	// the first goroutines) is not counted.
	warm := dialIdle(b, ts.Addr(), adminToken)
	defer warm.Close()

	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	heap0, stack0 := memoryInUse()
	b.ResetTimer()
	for range b.N {
		conns = append(conns, dialIdle(b, ts.Addr(), adminToken))
	}
	b.StopTimer()
	// Let the connection actors and the heartbeat timers settle.
	time.Sleep(time.Second)
	heap1, stack1 := memoryInUse()
	if path := os.Getenv("WEFT_CONN_HEAP_PROFILE"); path != "" {
		writeHeapProfile(b, path)
	}
	n := float64(b.N)
	b.ReportMetric(float64(heap1-heap0)/n, "heap-B/conn")
	b.ReportMetric(float64(stack1-stack0)/n, "stack-B/conn")
	b.ReportMetric(float64(heap1+stack1-heap0-stack0)/n, "B/conn")
	// A generous bound, far above the measured figure: it catches a
	// per-connection buffer or goroutine added by mistake, not noise.
	if per := float64(heap1+stack1-heap0-stack0) / n; b.N >= 500 && per > 32<<10 {
		b.Errorf("%.0f bytes per idle connection, want well under 32 KiB", per)
	}
}

// writeHeapProfile writes the heap profile with the sockets open (run with
// -memprofilerate 1 for every allocation).
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// memoryInUse is live heap and goroutine stacks, after collections (which
// also shrink the stacks that can be).
func memoryInUse() (heap, stack int64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), int64(m.StackInuse)
}

// dialIdle opens an authenticated socket by hand and reads its connected
// frame, leaving nothing on the client side but the TCP connection.
func dialIdle(b *testing.B, addr, token string) net.Conn {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET /api/v1/socket HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n" +
		"Authorization: Bearer " + token + "\r\n\r\n"
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade: HTTP %d", resp.StatusCode)
	}
	payload, err := readServerFrame(br)
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(string(payload), `"connected"`) {
		b.Fatalf("first frame %s, want connected", payload)
	}
	if br.Buffered() > 0 {
		b.Fatalf("%d unexpected bytes after the connected frame", br.Buffered())
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// readServerFrame reads one unmasked, uncompressed server frame.
func readServerFrame(r io.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(r, payload)
	return payload, err
}

// TestReaderAfterPingsFragmentsAndCompression exercises the read pump's
// paths that run deep (see transport/ws/pumps.go): a client ping (answered
// off the reader's stack), a compressed frame, and a frame that arrives in
// pieces; each is answered, and the socket then idles. It logs how much
// the goroutine stacks grew meanwhile (about nothing: the waits are back on
// minimal stacks).
func TestReaderAfterPingsFragmentsAndCompression(t *testing.T) {
	ts := startServer(t, "")
	const n = 50
	h := http.Header{"Authorization": {"Bearer " + adminToken}}
	d := websocket.Dialer{EnableCompression: true}
	var clients []*websocket.Conn
	for range n {
		c, _, err := d.Dial(ts.url("/api/v1/socket"), h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	_, stack0 := memoryInUse()
	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, data, err := c.ReadMessage(); err != nil || !strings.Contains(string(data), `"connected"`) {
			t.Fatalf("connected: %s %v", data, err)
		}
		pong := make(chan string, 1)
		c.SetPongHandler(func(s string) error { pong <- s; return nil })
		if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// A ping frame of the protocol, compressed, in two pieces a while
		// apart, 20 KB of it blank.
		c.EnableWriteCompression(i%2 == 0)
		w, err := c.NextWriter(websocket.TextMessage)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, `{"type":"ping","id":"x`+fmt.Sprint(i)+`"`+strings.Repeat(" ", 10000))
		time.Sleep(time.Millisecond)
		_, _ = io.WriteString(w, strings.Repeat(" ", 10000)+`}`)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// gorilla calls the pong handler from ReadMessage.
		_, data, err := c.ReadMessage()
		if err != nil || !strings.Contains(string(data), `"pong"`) {
			t.Fatalf("answer to the ping frame: %s %v", data, err)
		}
		// gorilla runs the pong handler while reading: read on until the
		// pong (written beside the frames, in no set order) has come.
		for tries := 0; ; tries++ {
			select {
			case s := <-pong:
				if s != "p1" {
					t.Fatalf("pong %q, want p1", s)
				}
			default:
				if tries == 50 {
					t.Fatal("no pong")
				}
				time.Sleep(10 * time.Millisecond)
				if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.ReadMessage(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	_, stack1 := memoryInUse()
	// The readers were parked, on 2 KiB each, before too: 0 means none kept
	// a grown stack.
	t.Logf("goroutine stacks grew by %.0f bytes per socket after pings, fragments, compression", float64(stack1-stack0)/n)
}
