package refserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/load"
	"github.com/weft-run/weft/load/refserver"
)

func start(t *testing.T, o refserver.Options) string {
	t.Helper()
	ln, err := refserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- refserver.New(o).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// TestRefBroadcastScenario runs weft's own broadcast scenario against the
// reference server, in both write modes.
func TestRefBroadcastScenario(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       refserver.Options
		members int
	}{
		{"inline", refserver.Options{Mode: refserver.Inline}, 20},
		{"inline-parallel", refserver.Options{Mode: refserver.Inline, Workers: 3}, 300},
		{"writer", refserver.Options{Mode: refserver.Writer}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := start(t, tc.o)
			members, broadcasts := tc.members, 5
			// PID: this process, to exercise the CPU measurement (it holds
			// client and server here).
			r, err := load.Broadcast(context.Background(), load.Target{URL: url, Token: "any", PID: os.Getpid()},
				load.BroadcastOptions{Members: members, Broadcasts: broadcasts, Rate: 50, MessageBytes: 100}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Figures["deliveries"] != float64(members*broadcasts) || r.Figures["missing_deliveries"] != 0 {
				t.Fatalf("errors %d, figures %v", r.Errors, r.Figures)
			}
			if s := r.Latencies["broadcast_to_last_member"]; s.Count != int64(broadcasts) {
				t.Fatalf("latencies %+v", s)
			}
			if r.ServerCPU == nil || r.ServerCPU.PID != os.Getpid() || r.ClientCPU != nil {
				t.Fatalf("server CPU %+v, client CPU %+v", r.ServerCPU, r.ClientCPU)
			}
			if r.Params["message_bytes"] != 100 {
				t.Fatalf("message_bytes %v", r.Params["message_bytes"])
			}
		})
	}
}

// TestRefWireShapes checks the frames against weft's: connected first,
// join and broadcast answers, the room.message push, and the sender left
// out of its own broadcast.
func TestRefWireShapes(t *testing.T) {
	url := "ws" + start(t, refserver.Options{})[len("http"):] + "/api/v1/socket"
	dial := func() *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer whatever"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var f struct {
			Type string `json:"type"`
			Data struct {
				ConnectionID string `json:"connection_id"`
			} `json:"data"`
		}
		if err := ws.ReadJSON(&f); err != nil || f.Type != "connected" || f.Data.ConnectionID == "" {
			t.Fatalf("first frame %+v, %v", f, err)
		}
		return ws
	}
	read := func(ws *websocket.Conn) string {
		t.Helper()
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	a, b := dial(), dial()
	for i, ws := range []*websocket.Conn{a, b} {
		if err := ws.WriteJSON(map[string]any{"id": "j", "service": "room.join", "request": map[string]any{"room": "r", "presence": false}}); err != nil {
			t.Fatal(err)
		}
		want := `{"id":"j","response":{"room":"r","members":` + string(rune('1'+i)) + `},"complete":true}`
		if got := read(ws); got != want {
			t.Fatalf("join answer %s, want %s", got, want)
		}
	}
	if err := a.WriteJSON(map[string]any{"id": "b1", "service": "room.broadcast", "request": map[string]any{"room": "r", "message": map[string]int{"n": 7}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := read(a), `{"id":"b1","response":{"broadcast":true,"delivered_to":1,"subscriber_count":2},"complete":true}`; got != want {
		t.Fatalf("broadcast answer %s, want %s", got, want)
	}
	var push struct {
		Type string `json:"type"`
		Data struct {
			Room, From, Identity string
			Message              json.RawMessage
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(read(b)), &push); err != nil {
		t.Fatal(err)
	}
	if push.Type != "room.message" || push.Data.Room != "r" || push.Data.From == "" || push.Data.Identity == "" || string(push.Data.Message) != `{"n":7}` {
		t.Fatalf("push %+v", push)
	}
	// The sender got nothing but its answer: its next frame is the pong.
	if err := a.WriteJSON(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if got := read(a); len(got) < 14 || got[:14] != `{"type":"pong"` {
		t.Fatalf("after broadcast the sender read %s", got)
	}
}

func TestRefListenLoopbackOnly(t *testing.T) {
	if _, err := refserver.Listen("0.0.0.0:0"); err == nil {
		t.Fatal("listening on every interface was allowed")
	}
}
