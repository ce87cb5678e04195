package peers_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/cluster/peers"
	"github.com/weft-run/weft/internal/natstest"
)

// fakeLocal is one node's rooms and connections, as the peers see them:
// it answers from what the test put in it and records what it was asked.
type fakeLocal struct {
	mu         sync.Mutex
	members    map[string][]actors.MemberInfo // by room
	conns      []actors.ConnectionInfo
	broadcasts []actors.RoomMessage
	sent       []actors.ConnectionMessage
	presence   chan actors.PresenceChange
}

func newFakeLocal() *fakeLocal {
	return &fakeLocal{members: map[string][]actors.MemberInfo{}, presence: make(chan actors.PresenceChange, 16)}
}

func (l *fakeLocal) LocalBroadcast(_ context.Context, m actors.RoomMessage) (int, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broadcasts = append(l.broadcasts, m)
	n := len(l.members[m.Room])
	if m.Room == "" {
		n = len(l.conns)
	}
	return n, n, nil
}

func (l *fakeLocal) LocalPresence(p actors.PresenceChange) { l.presence <- p }

func (l *fakeLocal) LocalRoomSize(_ context.Context, _, room string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.members[room]), nil
}

func (l *fakeLocal) LocalMembers(_ context.Context, _, room string) ([]actors.MemberInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.members[room]), nil
}

func (l *fakeLocal) LocalConnections(context.Context, string) ([]actors.ConnectionInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.conns), nil
}

func (l *fakeLocal) LocalToConnection(_ context.Context, _, id string, m actors.ConnectionMessage) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if c.ID == id {
			l.sent = append(l.sent, m)
			return true, nil
		}
	}
	return false, nil
}

func (l *fakeLocal) gotBroadcasts() []actors.RoomMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.broadcasts)
}

// node is one node's Peers with its fake local side.
type node struct {
	*peers.Peers
	local *fakeLocal
	reg   *prometheus.Registry
}

// startNodes starts a Peers for each id on its own connection to one
// NATS server; every node's membership is members (which may name nodes
// that do not exist, to play a dead one).
func startNodes(t *testing.T, urls string, members []string, ids ...string) []*node {
	t.Helper()
	var out []*node
	for _, id := range ids {
		reg := prometheus.NewRegistry()
		p, err := peers.New(natstest.Connect(t, urls), peers.Config{
			NodeID: id, Nodes: func() []string { return members }, Timeout: 300 * time.Millisecond, Registerer: reg,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		n := &node{Peers: p, local: newFakeLocal(), reg: reg}
		if err := p.Serve(n.local); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func member(id string) actors.MemberInfo {
	return actors.MemberInfo{ConnectionID: id, Identity: "id-" + id, ConnectedAt: time.Unix(1700000000, 0).UTC()}
}

func TestBroadcastCountsEveryOtherNode(t *testing.T) {
	srv := natstest.Server(t)
	ns := startNodes(t, srv.URL(), []string{"a", "b", "c"}, "a", "b", "c")
	a, b, c := ns[0], ns[1], ns[2]
	b.local.members["lobby"] = []actors.MemberInfo{member("b1"), member("b2")}
	c.local.members["lobby"] = []actors.MemberInfo{member("c1")}

	msg := actors.RoomMessage{Workspace: "acme", Room: "lobby", From: "a1", Identity: "alice", Message: json.RawMessage(`{"x":1}`)}
	got := a.Broadcast(msg).Wait(context.Background())
	if got.Delivered != 3 || got.Members != 3 || got.Missing != nil {
		t.Errorf("tally = %+v, want 3 delivered to 3 members, nobody missing", got)
	}
	for _, n := range []*node{b, c} {
		if bs := n.local.gotBroadcasts(); len(bs) != 1 || string(bs[0].Message) != `{"x":1}` || bs[0].From != "a1" || bs[0].Identity != "alice" {
			t.Errorf("%s got %+v", n.Node(), bs)
		}
	}
	if bs := a.local.gotBroadcasts(); len(bs) != 0 {
		t.Errorf("the sender's own peers handled its broadcast: %+v", bs)
	}
}

func TestAnswerNamesNodesThatDoNotAnswer(t *testing.T) {
	srv := natstest.Server(t)
	ns := startNodes(t, srv.URL(), []string{"a", "b", "ghost"}, "a", "b")
	ns[1].local.members["r"] = []actors.MemberInfo{member("b1")}

	got := ns[0].RoomSize(context.Background(), "acme", "r")
	if got.Members != 1 || !slices.Equal(got.Missing, []string{"ghost"}) {
		t.Errorf("tally = %+v, want b's 1 member and ghost missing", got)
	}
	if v := (metric(t, ns[0].reg, "weft_cluster_peer_unanswered_total")); v != 1 {
		t.Errorf("unanswered = %v, want 1", v)
	}
}

func TestListsNameTheirNode(t *testing.T) {
	srv := natstest.Server(t)
	ns := startNodes(t, srv.URL(), []string{"a", "b", "c"}, "a", "b", "c")
	ns[1].local.members["r"] = []actors.MemberInfo{member("b1")}
	ns[2].local.members["r"] = []actors.MemberInfo{member("c1"), member("c2")}
	ns[2].local.conns = []actors.ConnectionInfo{{ID: "c1", Identity: "carol", Rooms: []string{"r", "s.t"}, ConnectedAt: time.Unix(1, 0).UTC()}}

	ms, tally := ns[0].Members(context.Background(), "acme", "r")
	if len(ms) != 3 || tally.Missing != nil {
		t.Fatalf("members = %+v (%+v), want 3", ms, tally)
	}
	for _, m := range ms {
		if want := m.ConnectionID[:1]; m.Node != want {
			t.Errorf("member %s on node %q, want %q", m.ConnectionID, m.Node, want)
		}
	}
	cs, _ := ns[0].Connections(context.Background(), "acme")
	if len(cs) != 1 || cs[0].Node != "c" || !slices.Equal(cs[0].Rooms, []string{"r", "s.t"}) {
		t.Errorf("connections = %+v", cs)
	}
}

func TestToConnectionStopsAtTheNodeThatHasIt(t *testing.T) {
	srv := natstest.Server(t)
	// ghost never answers: a send that finds the connection does not wait
	// for it; one that does not find it cannot say it is nowhere.
	ns := startNodes(t, srv.URL(), []string{"a", "b", "c", "ghost"}, "a", "b", "c")
	ns[2].local.conns = []actors.ConnectionInfo{{ID: "ws_c"}}
	ctx := context.Background()

	start := time.Now()
	found, tally := ns[0].ToConnection(ctx, "acme", "ws_c", actors.ConnectionMessage{From: "ws_a", Message: json.RawMessage(`"hi"`)})
	if !found || tally.Missing != nil {
		t.Errorf("send to ws_c: found %v, %+v; want found", found, tally)
	}
	if waited := time.Since(start); waited >= 300*time.Millisecond {
		t.Errorf("send waited %v, the whole timeout, for the node that does not answer", waited)
	}
	if len(ns[2].local.sent) != 1 || string(ns[2].local.sent[0].Message) != `"hi"` {
		t.Errorf("c got %+v", ns[2].local.sent)
	}
	found, tally = ns[0].ToConnection(ctx, "acme", "ws_nowhere", actors.ConnectionMessage{Close: true, Reason: "bye"})
	if found || !slices.Equal(tally.Missing, []string{"ghost"}) {
		t.Errorf("close of an unknown connection: found %v, %+v; want not found, ghost missing", found, tally)
	}
}

func TestNamesThatAreNotTokens(t *testing.T) {
	srv := natstest.Server(t)
	ns := startNodes(t, srv.URL(), []string{"a", "b"}, "a", "b")
	ns[1].local.members["a.b *>"] = []actors.MemberInfo{member("b1")}
	got := ns[0].Broadcast(actors.RoomMessage{Workspace: "w.x", Room: "a.b *>", Message: json.RawMessage(`1`)}).Wait(context.Background())
	if got.Delivered != 1 {
		t.Errorf("delivered %d, want 1", got.Delivered)
	}
	if bs := ns[1].local.gotBroadcasts(); len(bs) != 1 || bs[0].Workspace != "w.x" || bs[0].Room != "a.b *>" {
		t.Errorf("b got %+v", bs)
	}
}

func TestPresenceReachesTheOtherNodes(t *testing.T) {
	srv := natstest.Server(t)
	ns := startNodes(t, srv.URL(), []string{"a", "b", "c"}, "a", "b", "c")
	want := actors.PresenceChange{Workspace: "acme", Room: "r", Joined: true, ConnectionID: "ws_a", Identity: "alice", Total: 5}
	ns[0].Presence(want)
	for _, n := range ns[1:] {
		select {
		case got := <-n.local.presence:
			if got != want {
				t.Errorf("%s got %+v, want %+v", n.Node(), got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s got no presence change", n.Node())
		}
	}
	select {
	case got := <-ns[0].local.presence:
		t.Errorf("the sender got its own presence change %+v", got)
	default:
	}
}

func TestMalformedMessagesAreIgnored(t *testing.T) {
	srv := natstest.Server(t)
	ns := startNodes(t, srv.URL(), []string{"a", "b"}, "a", "b")
	nc := natstest.Connect(t, srv.URL())
	for _, junk := range [][]byte{nil, []byte("hello"), {1, 99}, {1, 1, 200}} {
		if err := nc.Publish("weft.room.acme.r", junk); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ns[1].local.members["r"] = []actors.MemberInfo{member("b1")}
	// b handles its subscription's messages in order: once it answers,
	// it has seen the junk.
	if got := ns[0].RoomSize(context.Background(), "acme", "r"); got.Members != 1 {
		t.Fatalf("after junk: %+v", got)
	}
	if v := (metric(t, ns[1].reg, "weft_cluster_peer_malformed_total")); v != 4 {
		t.Errorf("malformed = %v, want 4", v)
	}
}

func TestWithoutConnectionEveryNodeIsMissing(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.URL())
	p, err := peers.New(nc, peers.Config{NodeID: "a", Nodes: func() []string { return []string{"a", "b"} }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	nc.Close()
	got := p.Broadcast(actors.RoomMessage{Workspace: "w", Room: "r", Message: json.RawMessage(`1`)}).Wait(context.Background())
	if !slices.Equal(got.Missing, []string{"b"}) {
		t.Errorf("tally = %+v, want b missing", got)
	}
}

func TestCloseEndsItsGoroutines(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.URL())
	before := goleak.IgnoreCurrent()
	p, err := peers.New(nc, peers.Config{NodeID: "a", Nodes: func() []string { return []string{"a"} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(newFakeLocal()); err != nil {
		t.Fatal(err)
	}
	p.Presence(actors.PresenceChange{Workspace: "w", Room: "r", ConnectionID: "c"})
	p.Close()
	p.Close() // idempotent
	goleak.VerifyNone(t, before)
}

// metric sums the values of a counter in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// BenchmarkBroadcast measures a broadcast's round trip to two other nodes
// on one NATS server (request out, both answers back), the cost cluster
// mode adds to a room.broadcast; the nodes' own fan-outs are fakes.
//
//	go test -run '^$' -bench Broadcast ./cluster/peers/
func BenchmarkBroadcast(b *testing.B) {
	srv := natstest.Server(b)
	var ns []*peers.Peers
	for _, id := range []string{"a", "b", "c"} {
		p, err := peers.New(natstest.Connect(b, srv.URL()), peers.Config{NodeID: id, Nodes: func() []string { return []string{"a", "b", "c"} }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		local := newFakeLocal()
		local.members["r"] = []actors.MemberInfo{member(id + "1")}
		if err := p.Serve(local); err != nil {
			b.Fatal(err)
		}
		ns = append(ns, p)
	}
	msg := actors.RoomMessage{Workspace: "acme", Room: "r", From: "a1", Identity: "alice", Message: json.RawMessage(`{"text":"hello everyone"}`)}
	b.ResetTimer()
	for range b.N {
		if got := ns[0].Broadcast(msg).Wait(context.Background()); got.Delivered != 2 || got.Missing != nil {
			b.Fatalf("tally %+v", got)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "broadcasts/s")
}
