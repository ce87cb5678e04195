package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events"
)

type pushData struct {
	Room         string          `json:"room"`
	ConnectionID string          `json:"connection_id"`
	Identity     string          `json:"identity"`
	From         string          `json:"from"`
	Message      json.RawMessage `json:"message"`
}

// connID returns the connection id from a connected frame.
func dialWithID(t *testing.T, ts *testServer, token string) (*client, string) {
	t.Helper()
	c := dialRaw(t, ts.url("/api/v1/socket?token="+token), nil)
	f := c.read()
	if f.Type != "connected" {
		t.Fatalf("first frame %+v", f)
	}
	return c, decode[struct {
		ID string `json:"connection_id"`
	}](t, f.Data).ID
}

// nextPush reads until a push of type typ arrives.
func (c *client) nextPush(typ string) pushData {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == typ && f.ID == "" {
			return decode[pushData](c.t, f.Data)
		}
	}
}

func joinRoom(t *testing.T, c *client, room string, presence bool) int {
	t.Helper()
	f := c.call("join-"+room, "room.join", map[string]any{"room": room, "presence": presence})
	if f.Error != nil {
		t.Fatalf("join %s: %+v", room, f.Error)
	}
	r := decode[struct {
		Room    string `json:"room"`
		Members int    `json:"members"`
	}](t, f.Response)
	if r.Room != room {
		t.Fatalf("join answered %+v", r)
	}
	return r.Members
}

func TestPresenceInTwoRoomsWithAbruptDisconnect(t *testing.T) {
	ts := startServer(t, "")
	a, aID := dialWithID(t, ts, adminToken)
	b, bID := dialWithID(t, ts, adminToken)
	c, cID := dialWithID(t, ts, adminToken)

	if n := joinRoom(t, a, "r1", true); n != 1 {
		t.Fatalf("first member count %d", n)
	}
	joinRoom(t, a, "r2", true)
	if n := joinRoom(t, b, "r1", true); n != 2 {
		t.Fatalf("r1 count after b = %d", n)
	}
	if p := a.nextPush("room.joined"); p.Room != "r1" || p.ConnectionID != bID || p.Identity != "alice" {
		t.Fatalf("a saw %+v", p)
	}
	joinRoom(t, c, "r2", false) // c wants no presence pushes
	if p := a.nextPush("room.joined"); p.Room != "r2" || p.ConnectionID != cID {
		t.Fatalf("a saw %+v", p)
	}

	list := a.call("ls", "connections.list", nil)
	conns := decode[struct {
		Connections []struct {
			ID    string   `json:"connection_id"`
			Rooms []string `json:"rooms"`
		} `json:"connections"`
	}](t, list.Response).Connections
	rooms := map[string]string{}
	for _, cn := range conns {
		rooms[cn.ID] = strings.Join(cn.Rooms, ",")
	}
	if rooms[aID] != "r1,r2" || rooms[bID] != "r1" || rooms[cID] != "r2" {
		t.Fatalf("connections.list rooms = %v", rooms)
	}

	// b drops without a close frame: it leaves r1 at once.
	_ = b.conn.UnderlyingConn().Close()
	if p := a.nextPush("room.left"); p.Room != "r1" || p.ConnectionID != bID {
		t.Fatalf("a saw %+v", p)
	}
	members := decode[struct {
		Members []struct {
			ID string `json:"connection_id"`
		} `json:"members"`
	}](t, a.call("m", "room.members", map[string]string{"room": "r1"}).Response).Members
	if len(members) != 1 || members[0].ID != aID {
		t.Fatalf("r1 members after b left = %+v", members)
	}
	// c leaves r2 explicitly; a sees it; c, without presence, saw nothing.
	c.call("leave", "room.leave", map[string]string{"room": "r2"})
	if p := a.nextPush("room.left"); p.Room != "r2" || p.ConnectionID != cID {
		t.Fatalf("a saw %+v", p)
	}
}

func TestBroadcastAudiences(t *testing.T) {
	ts := startServer(t, "")
	sender, senderID := dialWithID(t, ts, adminToken)
	broadcast := func(room string) map[string]any {
		t.Helper()
		f := sender.call("b-"+room, "room.broadcast", map[string]any{"room": room, "message": map[string]string{"text": "hi " + room}})
		if f.Error != nil {
			t.Fatalf("broadcast: %+v", f.Error)
		}
		return decode[map[string]any](t, f.Response)
	}
	if got := broadcast("empty"); got["broadcast"] != true || got["delivered_to"] != float64(0) || got["subscriber_count"] != float64(0) {
		t.Fatalf("empty room: %v", got)
	}
	joinRoom(t, sender, "solo", false)
	if got := broadcast("solo"); got["delivered_to"] != float64(0) || got["subscriber_count"] != float64(1) {
		t.Fatalf("sender alone: %v", got)
	}
	var members []*client
	joinRoom(t, sender, "many", false)
	for range 5 {
		m, _ := dialWithID(t, ts, adminToken)
		joinRoom(t, m, "many", false)
		members = append(members, m)
	}
	if got := broadcast("many"); got["delivered_to"] != float64(5) || got["subscriber_count"] != float64(6) {
		t.Fatalf("many: %v", got)
	}
	for _, m := range members {
		p := m.nextPush("room.message")
		if p.Room != "many" || p.From != senderID || p.Identity != "alice" || string(p.Message) != `{"text":"hi many"}` {
			t.Fatalf("member got %+v", p)
		}
	}
	// The whole workspace: every other connection of acme.
	f := sender.call("all", "room.broadcast", map[string]any{"message": "everyone"})
	if got := decode[map[string]any](t, f.Response); got["delivered_to"] != float64(5) {
		t.Fatalf("workspace broadcast: %v", got)
	}
	for _, m := range members {
		if p := m.nextPush("room.message"); string(p.Message) != `"everyone"` {
			t.Fatalf("workspace broadcast delivered %+v", p)
		}
	}
}

func TestRoomsAndConnectionsAreIsolatedByWorkspace(t *testing.T) {
	ts := startServer(t, "")
	a, aID := dialWithID(t, ts, adminToken)
	g, gID := dialWithID(t, ts, otherToken)
	joinRoom(t, a, "shared-name", true)
	if n := joinRoom(t, g, "shared-name", true); n != 1 {
		t.Fatalf("globex joined acme's room: %d members", n)
	}
	f := a.call("b", "room.broadcast", map[string]any{"room": "shared-name", "message": "acme only"})
	if got := decode[map[string]any](t, f.Response); got["subscriber_count"] != float64(1) {
		t.Fatalf("acme broadcast reached %v", got)
	}
	f = g.call("ls", "connections.list", nil)
	if strings.Contains(string(f.Response), aID) || !strings.Contains(string(f.Response), gID) {
		t.Fatalf("globex sees %s", f.Response)
	}
	f = g.call("send", "connection.send", map[string]any{"connection_id": aID, "message": "psst"})
	if f.Error == nil || f.Error.Code != "WS_CONNECTION_NOT_FOUND" {
		t.Fatalf("cross-workspace send: %+v", f)
	}
	f = g.call("close", "connection.close", map[string]any{"connection_id": aID})
	if f.Error == nil || f.Error.Code != "WS_CONNECTION_NOT_FOUND" {
		t.Fatalf("cross-workspace close: %+v", f)
	}
	// The ping proves acme's socket got none of globex's traffic.
	if f := a.call("p", "ping", nil); f.Error != nil || f.ID != "p" {
		t.Fatalf("acme socket: %+v", f)
	}
}

func TestSendAndCloseNeedAdmin(t *testing.T) {
	ts := startServer(t, "")
	admin, adminID := dialWithID(t, ts, adminToken)
	target, targetID := dialWithID(t, ts, readerToken)

	for _, svc := range []string{"connection.send", "connection.close", "room.join", "room.broadcast", "connections.list"} {
		f := target.call("x", svc, map[string]any{"connection_id": adminID, "room": "r", "message": 1})
		if f.Error == nil || f.Error.Code != "FORBIDDEN" {
			t.Fatalf("%s without scope: %+v", svc, f)
		}
	}
	f := admin.call("s", "connection.send", map[string]any{"connection_id": targetID, "message": map[string]int{"n": 1}})
	if f.Error != nil || !strings.Contains(string(f.Response), `"sent":true`) {
		t.Fatalf("send: %+v %s", f.Error, f.Response)
	}
	if p := target.nextPush("message"); p.From != adminID || string(p.Message) != `{"n":1}` {
		t.Fatalf("target got %+v", p)
	}
	f = admin.call("c", "connection.close", map[string]any{"connection_id": targetID, "reason": "bye"})
	if f.Error != nil || !strings.Contains(string(f.Response), `"closed":true`) {
		t.Fatalf("close: %+v %s", f.Error, f.Response)
	}
	if code := target.expectClose(); code != 4000 {
		t.Fatalf("close code %d, want 4000", code)
	}
	f = admin.call("s2", "connection.send", map[string]any{"connection_id": targetID, "message": 1})
	if f.Error == nil || f.Error.Code != "WS_CONNECTION_NOT_FOUND" {
		t.Fatalf("send to a closed connection: %+v", f)
	}
}

func TestChatBotAnswersIntoItsRoom(t *testing.T) {
	ts := startServer(t, "")
	user, userID := dialWithID(t, ts, adminToken)
	joinRoom(t, user, "chat", false)
	user.call("b", "room.broadcast", map[string]any{"room": "chat", "message": map[string]string{"text": "hello bot"}})
	p := user.nextPush("room.message")
	if !strings.HasPrefix(p.From, "workflow:exec_") || !strings.Contains(string(p.Message), "@alice") {
		t.Fatalf("bot answered %+v", p)
	}
	// The bot's own message did not start another bot execution.
	time.Sleep(200 * time.Millisecond)
	f := user.call("ls", "executions.list", map[string]any{"workflow": "chat-bot"})
	items := decode[struct {
		Items []struct {
			Status string `json:"status"`
		} `json:"items"`
	}](t, f.Response).Items
	if len(items) != 1 {
		t.Fatalf("%d chat-bot executions, want 1", len(items))
	}
	_ = userID
}

func TestLifecycleEventsOnTheBus(t *testing.T) {
	ts := startServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened, err := ts.Bus().SubscribeTopic(ctx, events.TopicConnectionOpened)
	if err != nil {
		t.Fatal(err)
	}
	closed, err := ts.Bus().SubscribeTopic(ctx, events.TopicConnectionClosed)
	if err != nil {
		t.Fatal(err)
	}
	c, id := dialWithID(t, ts, adminToken)
	expect := func(name string, msgs <-chan *message.Message) {
		t.Helper()
		select {
		case m := <-msgs:
			m.Ack()
			if !strings.Contains(string(m.Payload), id) {
				t.Fatalf("%s payload %s lacks %s", name, m.Payload, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", name)
		}
	}
	expect("opened", opened)
	c.conn.Close()
	expect("closed", closed)
}
