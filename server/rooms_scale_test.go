package server_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
)

// joinDefault joins a room without saying presence (the default: on) and
// returns the answer.
func joinDefault(t *testing.T, c *client, room string) (members int, presence bool) {
	t.Helper()
	f := c.call("join", "room.join", map[string]any{"room": room})
	if f.Error != nil {
		t.Fatalf("join %s: %+v", room, f.Error)
	}
	r := decode[struct {
		Members  int   `json:"members"`
		Presence *bool `json:"presence"`
	}](t, f.Response)
	if r.Presence == nil {
		t.Fatalf("join answer %s has no presence", f.Response)
	}
	return r.Members, *r.Presence
}

// pushesUntilPong pings and returns the pushes that arrive before the pong,
// by type. Frames pushed before the ping was answered come before it.
func (c *client) pushesUntilPong() map[string][]pushData {
	c.t.Helper()
	c.send(`{"type":"ping"}`)
	got := map[string][]pushData{}
	for {
		f := c.read()
		if f.Type == "pong" {
			return got
		}
		if f.ID == "" && f.Type != "" {
			got[f.Type] = append(got[f.Type], decode[pushData](c.t, f.Data))
		}
	}
}

// A room sends presence pushes only while it is within the presence limit;
// room.join says whether the joiner will get them. A broadcast reaches
// every member once, the sender not.
func TestPresenceStopsAboveTheRoomPresenceLimit(t *testing.T) {
	const limit, n = 50, 200
	ts := bootServer(t, "", func(c *server.Config) { c.RoomPresenceLimit = limit })
	clients := make([]*client, n)
	ids := make([]string, n)
	for i := range n {
		clients[i], ids[i] = dialWithID(t, ts, adminToken)
		members, presence := joinDefault(t, clients[i], "stadium")
		if members != i+1 || presence != (i+1 <= limit) {
			t.Fatalf("join %d answered members=%d presence=%v", i+1, members, presence)
		}
	}
	sender := clients[n-1]
	f := sender.call("b", "room.broadcast", map[string]any{"room": "stadium", "message": map[string]string{"text": "goal"}})
	if f.Error != nil {
		t.Fatalf("broadcast: %+v", f.Error)
	}
	res := decode[struct {
		DeliveredTo     int `json:"delivered_to"`
		SubscriberCount int `json:"subscriber_count"`
	}](t, f.Response)
	if res.DeliveredTo != n-1 || res.SubscriberCount != n {
		t.Fatalf("broadcast answered %s", f.Response)
	}
	for i, c := range clients {
		got := c.pushesUntilPong()
		// Member i+1 saw the joins of members i+2 .. limit, in order.
		joined := got["room.joined"]
		if want := max(0, limit-(i+1)); len(joined) != want {
			t.Fatalf("member %d got %d room.joined, want %d", i+1, len(joined), want)
		}
		for k, p := range joined {
			if p.ConnectionID != ids[i+1+k] || p.Room != "stadium" {
				t.Fatalf("member %d: room.joined %d is %+v, want %s", i+1, k, p, ids[i+1+k])
			}
		}
		msgs := got["room.message"]
		if i == n-1 {
			if len(msgs) != 0 {
				t.Fatalf("the sender got its own broadcast %d times", len(msgs))
			}
			continue
		}
		if len(msgs) != 1 || msgs[0].From != ids[n-1] || string(msgs[0].Message) != `{"text":"goal"}` {
			t.Fatalf("member %d got room.message %+v, want it once", i+1, msgs)
		}
		if len(got) != 1+min(len(joined), 1) {
			t.Fatalf("member %d got pushes %v", i+1, got)
		}
	}

	// A leave from the large room is not announced either; once the room
	// is back within the limit, leaves are.
	for i := n - 1; i >= limit; i-- {
		if f := clients[i].call("l", "room.leave", map[string]any{"room": "stadium"}); f.Error != nil {
			t.Fatalf("leave: %+v", f.Error)
		}
	}
	// Members n .. limit+1 left, the last of them from a room of limit+1:
	// none announced.
	if got := clients[0].pushesUntilPong(); len(got) != 0 {
		t.Fatalf("leaves from the large room were announced: %v", got)
	}
	clients[limit-1].conn.Close() // abruptly: the room has limit members with it
	if p := clients[0].nextPush("room.left"); p.ConnectionID != ids[limit-1] {
		t.Fatalf("room.left %+v, want %s", p, ids[limit-1])
	}
}

// A member that stops reading is closed with 1013 once its outbox is full;
// the other members get every broadcast, once, in order.
func TestSlowRoomMemberIsClosedOthersGetEverything(t *testing.T) {
	ts := startServerWith(t, ws.Config{OutboxFrames: 16, OutboxBytes: 1 << 20, WriteTimeout: 300 * time.Millisecond, MessagesPerSecond: 100000})
	sender, _ := dialWithID(t, ts, adminToken)
	var fast []*client
	for range 3 {
		c, _ := dialWithID(t, ts, adminToken)
		joinRoom(t, c, "feed", false)
		fast = append(fast, c)
	}
	// The slow member has a bounded TCP receive buffer and never reads.
	slow := dialSlowReader(t, ts)
	joinRoom(t, slow, "feed", false)

	const broadcasts = 3000
	pad := strings.Repeat("x", 4000)
	done := make(chan error, len(fast))
	read := make([]atomic.Int64, len(fast)) // frames each fast member has read
	for k, c := range fast {
		go func() {
			for i := range broadcasts {
				read[k].Store(int64(i))
				_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, data, err := c.conn.ReadMessage()
				if err != nil {
					done <- err
					return
				}
				if want := fmt.Sprintf(`"message":{"n":%d,`, i); !strings.Contains(string(data), want) {
					done <- fmt.Errorf("frame %d is %.80s, want %s", i, data, want)
					return
				}
			}
			done <- nil
		}()
	}
	slowClosed := false
	frames := 0 // read by the slow member once closed
	slowEnd := make(chan error, 1)
	for i := range broadcasts {
		// The fast members keep up: never more than 32 frames behind
		// (the slow one is allowed 16, and 64 more in reserve).
		for k := range read {
			for int64(i)-read[k].Load() > 32 {
				time.Sleep(time.Millisecond)
			}
		}
		f := sender.call(fmt.Sprint("b", i), "room.broadcast", map[string]any{"room": "feed", "message": map[string]any{"n": i, "pad": pad}})
		if f.Error != nil {
			t.Fatalf("broadcast %d: %+v", i, f.Error)
		}
		res := decode[struct {
			DeliveredTo int `json:"delivered_to"`
		}](t, f.Response)
		switch {
		case res.DeliveredTo == 4 && !slowClosed:
		case res.DeliveredTo == 3:
			if !slowClosed {
				// Closed, so out of the room: read what it was sent,
				// then its close.
				slowClosed = true
				go func() {
					_ = slow.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					for {
						if _, _, err := slow.conn.ReadMessage(); err != nil {
							slowEnd <- err
							return
						}
						frames++
					}
				}()
			}
		default:
			select {
			case err := <-done:
				t.Fatalf("broadcast %d delivered to %d: a fast member: %v", i, res.DeliveredTo, err)
			default:
			}
			t.Fatalf("broadcast %d delivered to %d (slow closed: %v)", i, res.DeliveredTo, slowClosed)
		}
	}
	for range fast {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if !slowClosed {
		t.Fatal("the slow member was never taken out of the room")
	}
	// No more than every broadcast arrives afterwards.
	for _, c := range fast {
		if got := c.pushesUntilPong(); len(got) != 0 {
			t.Fatalf("extra pushes after the broadcasts: %v", got)
		}
	}
	slowErr := <-slowEnd
	// 1013 when the close frame could still be written (the client read
	// within closeGrace); 1006 when the grace ran out first.
	ce, ok := slowErr.(*websocket.CloseError)
	if !ok || (ce.Code != 1013 && ce.Code != websocket.CloseAbnormalClosure) {
		t.Fatalf("slow member: %v after %d frames, want close 1013", slowErr, frames)
	}
	if frames >= broadcasts {
		t.Fatalf("slow member got all %d broadcasts", frames)
	}
	t.Logf("slow member read %d frames before its close", frames)
}
