package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/server"
)

// peer is a second, real socket client of the server under test (an app
// beside the console): the member of a room, the target of a send.
type peer struct {
	t    *testing.T
	conn *websocket.Conn
	id   string // its connection id
	n    int
}

// frame is any server frame a peer reads.
type frame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     json.RawMessage `json:"data"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Complete bool `json:"complete"`
}

func dialPeer(t *testing.T, srv *server.Server, token string) *peer {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr()+"/api/v1/socket", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &peer{t: t, conn: conn}
	f := p.read()
	var info struct {
		ConnectionID string `json:"connection_id"`
	}
	if f.Type != "connected" || json.Unmarshal(f.Data, &info) != nil {
		t.Fatalf("first frame %+v, want connected", f)
	}
	p.id = info.ConnectionID
	return p
}

// read returns the next frame; err is the read's error (a close, say).
func (p *peer) readErr() (frame, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var f frame
	_, data, err := p.conn.ReadMessage()
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		p.t.Fatalf("frame %s: %v", data, err)
	}
	return f, nil
}

func (p *peer) read() frame {
	p.t.Helper()
	f, err := p.readErr()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return f
}

// call sends one request and returns its final frame, skipping pushes.
func (p *peer) call(service string, req any) frame {
	p.t.Helper()
	p.n++
	id := fmt.Sprintf("r%d", p.n)
	if err := p.conn.WriteJSON(map[string]any{"id": id, "service": service, "request": req}); err != nil {
		p.t.Fatal(err)
	}
	for {
		f := p.read()
		if f.ID == id && (f.Complete || f.Error != nil) {
			return f
		}
	}
}
