package server_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/internal/tcpproxy"
	"github.com/weft-run/weft/server"
)

// bootNode boots a weft node in cluster mode on natsURL with its own
// data dir.
func bootNode(t *testing.T, id, natsURL string, adjust func(*server.Config)) *testServer {
	t.Helper()
	return bootServer(t, "", func(cfg *server.Config) {
		// The orphan check runs every second rather than every minute, so
		// that every cluster test also checks it never starts an execution
		// that runs or rests already (one task_end per step).
		cfg.Cluster = server.ClusterConfig{NATSURLs: natsURL, NodeID: id, OrphanCheck: time.Second}
		cfg.NoSync = true
		if adjust != nil {
			adjust(cfg)
		}
	})
}

// threeNodes boots nodes node-a, node-b and node-c, each on its own server
// of a 3-server NATS cluster (the cluster is returned too, for tests that
// stop its servers), with adjust applied to each node's config, and waits
// until each sees the other two.
func threeNodes(t *testing.T, adjust func(*server.Config)) (ns []*natstest.Node, a, b, c *testServer) {
	t.Helper()
	ns = natstest.Cluster(t, 3)
	a = bootNode(t, "node-a", ns[0].URL(), adjust)
	b = bootNode(t, "node-b", ns[1].URL(), adjust)
	c = bootNode(t, "node-c", ns[2].URL(), adjust)
	waitMembers(t, 3, a, b, c)
	return ns, a, b, c
}

// waitMembers waits until every node sees n live nodes (its
// weft_cluster_members gauge): until then a node would not wait for the
// answers of the nodes it does not see.
func waitMembers(t *testing.T, n int, nodes ...*testServer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, ts := range nodes {
		for metricValue(t, scrape(t, ts), "weft_cluster_members") != float64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("%s does not see %d nodes", ts.Addr(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// sock is a socket on one node that keeps the pushes it reads while it
// waits for answers, for the push checks that follow.
type sock struct {
	*client
	id     string // connection id
	calls  int
	pushes []frame
}

func connect(t *testing.T, ts *testServer, token string) *sock {
	t.Helper()
	c, id := dialWithID(t, ts, token)
	return &sock{client: c, id: id}
}

// ask sends a request and returns its answer.
func (s *sock) ask(service string, req any) frame {
	s.t.Helper()
	s.calls++
	id := fmt.Sprintf("r%d", s.calls)
	s.request(id, service, req)
	for {
		f := s.read()
		switch {
		case f.ID == id && (f.Complete || f.Error != nil):
			return f
		case f.ID == "" && f.Type != "":
			s.pushes = append(s.pushes, f)
		}
	}
}

// answer asks and decodes a successful answer.
func answer[T any](s *sock, service string, req any) T {
	s.t.Helper()
	f := s.ask(service, req)
	if f.Error != nil {
		s.t.Fatalf("%s: %+v", service, f.Error)
	}
	return decode[T](s.t, f.Response)
}

// push returns the first push of type typ that match accepts, kept or
// still to come.
func (s *sock) push(typ string, match func(pushData) bool) pushData {
	s.t.Helper()
	for i, f := range s.pushes {
		if d := decode[pushData](s.t, f.Data); f.Type == typ && match(d) {
			s.pushes = slices.Delete(s.pushes, i, i+1)
			return d
		}
	}
	for {
		f := s.read()
		if f.ID != "" || f.Type == "" {
			continue
		}
		if d := decode[pushData](s.t, f.Data); f.Type == typ && match(d) {
			return d
		}
		s.pushes = append(s.pushes, f)
	}
}

type clusterAnswer struct {
	Members         int      `json:"members"`
	Presence        *bool    `json:"presence"`
	DeliveredTo     int      `json:"delivered_to"`
	SubscriberCount int      `json:"subscriber_count"`
	Partial         bool     `json:"partial"`
	MissingNodes    []string `json:"missing_nodes"`
}

type listed struct {
	ConnectionID string   `json:"connection_id"`
	Identity     string   `json:"identity"`
	Node         string   `json:"node"`
	Rooms        []string `json:"rooms"`
}

// byConn maps a list's connection ids to their nodes.
func byConn(list []listed) map[string]string {
	out := map[string]string{}
	for _, l := range list {
		out[l.ConnectionID] = l.Node
	}
	return out
}

func from(id string) func(pushData) bool {
	return func(d pushData) bool { return d.From == id || d.ConnectionID == id }
}

// Three weft nodes, each on its own server of a 3-server NATS cluster:
// rooms, broadcasts, presence, lists and connection.send/close span them.
func TestClusterRoomsAndConnectionsSpanNodes(t *testing.T) {
	ns, a, b, c := threeNodes(t, nil)

	a1, b1, c1 := connect(t, a, adminToken), connect(t, b, adminToken), connect(t, c, adminToken)
	other := connect(t, b, otherToken) // workspace globex: never counted in acme's rooms

	// Server.info names the node.
	{
		for _, n := range []struct {
			s    *sock
			want string
		}{{a1, "node-a"}, {b1, "node-b"}, {c1, "node-c"}} {
			if got := answer[struct{ Node string }](n.s, "server.info", nil).Node; got != n.want {
				t.Errorf("server.info node = %q, want %q", got, n.want)
			}
		}
	}

	// Joins count every node and presence crosses them.
	{
		for i, s := range []*sock{a1, b1, c1} {
			got := answer[clusterAnswer](s, "room.join", map[string]any{"room": "lobby"})
			if got.Members != i+1 || got.Presence == nil || !*got.Presence || got.Partial {
				t.Fatalf("join %d: %+v, want %d members with presence", i+1, got, i+1)
			}
		}
		if got := answer[clusterAnswer](other, "room.join", map[string]any{"room": "lobby"}); got.Members != 1 {
			t.Errorf("globex's lobby has %d members, want 1: workspaces do not meet", got.Members)
		}
		// a1 (node A) hears b1 (node B) and c1 (node C) join; b1 hears c1.
		for _, who := range []*sock{b1, c1} {
			if d := a1.push("room.joined", from(who.id)); d.Room != "lobby" || d.Identity != "alice" {
				t.Errorf("a1 got %+v", d)
			}
		}
		b1.push("room.joined", from(c1.id))
	}

	// A broadcast reaches every node.
	{
		got := answer[clusterAnswer](a1, "room.broadcast", map[string]any{"room": "lobby", "message": map[string]string{"text": "hi"}})
		if got.DeliveredTo != 2 || got.SubscriberCount != 3 || got.Partial {
			t.Errorf("broadcast answered %+v, want delivered_to 2 of 3", got)
		}
		for _, s := range []*sock{b1, c1} {
			d := s.push("room.message", from(a1.id))
			if d.Room != "lobby" || d.Identity != "alice" || string(d.Message) != `{"text":"hi"}` {
				t.Errorf("%s got %+v", s.id, d)
			}
		}
		// The whole workspace: every acme connection but the sender's.
		got = answer[clusterAnswer](b1, "room.broadcast", map[string]any{"message": "all"})
		if got.DeliveredTo != 2 {
			t.Errorf("workspace broadcast delivered to %d, want 2", got.DeliveredTo)
		}
		a1.push("room.message", from(b1.id))
		c1.push("room.message", from(b1.id))
	}

	// Members and connections list every node.
	{
		ms := answer[struct {
			Members []listed `json:"members"`
			Partial bool     `json:"partial"`
		}](b1, "room.members", map[string]any{"room": "lobby"})
		want := map[string]string{a1.id: "node-a", b1.id: "node-b", c1.id: "node-c"}
		if got := byConn(ms.Members); !maps.Equal(got, want) || ms.Partial {
			t.Errorf("room.members = %v (partial %v), want %v", got, ms.Partial, want)
		}
		cs := answer[struct {
			Connections []listed `json:"connections"`
		}](a1, "connections.list", nil)
		if got := byConn(cs.Connections); !maps.Equal(got, want) {
			t.Errorf("connections.list = %v, want %v", got, want)
		}
		for _, l := range cs.Connections {
			if !slices.Equal(l.Rooms, []string{"lobby"}) {
				t.Errorf("%s is in %v, want [lobby]", l.ConnectionID, l.Rooms)
			}
		}
		// Over HTTP too (the console's connections page).
		r := httpDo(t, c, "GET", "/api/v1/connections", adminToken, nil)
		r.expectStatus(t, http.StatusOK)
		if got := byConn(decode[struct {
			Connections []listed `json:"connections"`
		}](t, r.body).Connections); !maps.Equal(got, want) {
			t.Errorf("GET /api/v1/connections on C = %v, want %v", got, want)
		}
	}

	// Connection.send and close reach another node.
	{
		if f := a1.ask("connection.send", map[string]any{"connection_id": c1.id, "message": map[string]int{"n": 1}}); f.Error != nil {
			t.Fatalf("send to a connection on C: %+v", f.Error)
		}
		if d := c1.push("message", from(a1.id)); string(d.Message) != `{"n":1}` {
			t.Errorf("c1 got %+v", d)
		}
		f := a1.ask("connection.send", map[string]any{"connection_id": "ws_nobody", "message": 1})
		if f.Error == nil || f.Error.Code != "WS_CONNECTION_NOT_FOUND" {
			t.Errorf("send to nobody: %+v, want WS_CONNECTION_NOT_FOUND", f.Error)
		}
		// Another workspace's connection is not found either.
		f = a1.ask("connection.send", map[string]any{"connection_id": other.id, "message": 1})
		if f.Error == nil || f.Error.Code != "WS_CONNECTION_NOT_FOUND" {
			t.Errorf("send to globex's connection: %+v, want WS_CONNECTION_NOT_FOUND", f.Error)
		}
		if f := a1.ask("connection.close", map[string]any{"connection_id": c1.id, "reason": "bye"}); f.Error != nil {
			t.Fatalf("close a connection on C: %+v", f.Error)
		}
		if code := c1.expectClose(); code != 4000 {
			t.Errorf("c1 closed with %d, want 4000", code)
		}
		// Its leave reaches the members on A and B.
		a1.push("room.left", from(c1.id))
		b1.push("room.left", from(c1.id))
		if got := answer[clusterAnswer](a1, "room.broadcast", map[string]any{"room": "lobby", "message": 2}); got.SubscriberCount != 2 {
			t.Errorf("after the close the lobby has %d members, want 2", got.SubscriberCount)
		}
	}

	// Metrics.
	{
		fams := scrape(t, a)
		for _, name := range []string{"weft_cluster_partitions_owned", "weft_cluster_lease_renewals_total",
			"weft_cluster_nats_reconnects_total", "weft_cluster_nats_connected", "weft_cluster_peer_requests_total"} {
			if _, ok := fams[name]; !ok {
				t.Errorf("no %s in /metrics", name)
			}
		}
		if got := metricValue(t, fams, "weft_cluster_nats_connected", "node", "node-a"); got != 1 {
			t.Errorf("weft_cluster_nats_connected = %v, want 1", got)
		}
		if got := metricValue(t, fams, "weft_cluster_peer_requests_total", "node", "node-a", "op", "broadcast"); got < 2 {
			t.Errorf("broadcast requests = %v, want at least 2", got)
		}
		owned := 0.0
		for _, ts := range []*testServer{a, b, c} {
			owned += metricValue(t, scrape(t, ts), "weft_cluster_partitions_owned")
			httpDo(t, ts, "GET", "/readyz", "", nil).expectStatus(t, http.StatusOK)
		}
		if owned > float64(cluster.DefaultPartitions) {
			t.Errorf("%v partitions owned, more than there are", owned)
		}
	}

	// A graceful shutdown hands the partitions over.
	{
		a.stop(t)
		nc := natstest.Connect(t, ns[1].URL())
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, bucket := range []string{cluster.LeasesBucket, cluster.NodesBucket} {
			kv, err := js.KeyValue(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := kv.ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for key := range keys.Keys() {
				e, err := kv.Get(ctx, key)
				if err == nil && strings.Contains(string(e.Value()), `"node-a"`) {
					t.Errorf("%s %s still names node-a after its shutdown: %s", bucket, key, e.Value())
				}
			}
		}
	}
}

// The presence limit counts the room on every node: a join that makes
// the room larger than the limit gets no presence, even on a node where
// it is the first member.
func TestClusterPresenceLimitCountsEveryNode(t *testing.T) {
	srv := natstest.Server(t)
	limit := func(cfg *server.Config) { cfg.RoomPresenceLimit = 2 }
	a := bootNode(t, "node-a", srv.URL(), limit)
	b := bootNode(t, "node-b", srv.URL(), limit)
	waitMembers(t, 2, a, b)
	a1, a2, b1 := connect(t, a, adminToken), connect(t, a, adminToken), connect(t, b, adminToken)

	if got := answer[clusterAnswer](a1, "room.join", map[string]any{"room": "r"}); !*got.Presence {
		t.Fatalf("first join: %+v", got)
	}
	if got := answer[clusterAnswer](a2, "room.join", map[string]any{"room": "r"}); !*got.Presence || got.Members != 2 {
		t.Fatalf("second join: %+v", got)
	}
	got := answer[clusterAnswer](b1, "room.join", map[string]any{"room": "r"})
	if got.Members != 3 || *got.Presence {
		t.Errorf("third join, the first on node B: %+v; want 3 members and presence false", got)
	}
}

// A node cut off from NATS keeps its sockets and answers 503 on /readyz;
// the others' cluster-wide answers go without it, marked partial and
// naming it; once back, it counts again and its sockets get broadcasts.
func TestClusterNodeCutOffFromNATS(t *testing.T) {
	srv := natstest.Server(t) // one server: no other URL to fail over to
	proxy, err := tcpproxy.New(strings.TrimPrefix(srv.URL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	a := bootNode(t, "node-a", srv.URL(), nil)
	c := bootNode(t, "node-c", "nats://"+proxy.Addr(), nil)
	waitMembers(t, 2, a, c)
	a1, c1 := connect(t, a, adminToken), connect(t, c, adminToken)
	answer[clusterAnswer](a1, "room.join", map[string]any{"room": "r"})
	answer[clusterAnswer](c1, "room.join", map[string]any{"room": "r"})

	proxy.Block(true)
	proxy.Cut()
	waitReady(t, c, http.StatusServiceUnavailable)
	got := answer[clusterAnswer](a1, "room.broadcast", map[string]any{"room": "r", "message": "while cut"})
	if !got.Partial || !slices.Equal(got.MissingNodes, []string{"node-c"}) || got.SubscriberCount != 1 {
		t.Errorf("broadcast while C is cut off: %+v; want partial, missing node-c, 1 subscriber", got)
	}
	f := a1.ask("connection.send", map[string]any{"connection_id": c1.id, "message": 1})
	if f.Error == nil || f.Error.Code != "UNAVAILABLE" || !f.Error.Retryable || !strings.Contains(f.Error.Message, "node-c") {
		t.Errorf("send to a connection on the cut-off node: %+v, want a retryable UNAVAILABLE naming node-c", f.Error)
	}
	// C's own sockets are served all along.
	if got := answer[struct{ Pong bool }](c1, "ping", nil); !got.Pong {
		t.Errorf("ping on C while cut off: %+v", got)
	}

	proxy.Block(false)
	waitReady(t, c, http.StatusOK)
	// Once C's subscriptions are back on the server, a broadcast counts
	// it again and reaches its socket.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		got = answer[clusterAnswer](a1, "room.broadcast", map[string]any{"room": "r", "message": i})
		if !got.Partial && got.DeliveredTo == 1 {
			c1.push("room.message", func(d pushData) bool { return string(d.Message) == fmt.Sprint(i) })
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcast after C is back: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// /readyz follows the node's NATS connection: 503 while its server is
// down, 200 once it is back; the node's sockets stay open throughout.
func TestClusterReadyzFollowsNATS(t *testing.T) {
	srv := natstest.Server(t)
	a := bootNode(t, "node-a", srv.URL(), nil)
	waitReady(t, a, http.StatusOK)
	s := connect(t, a, adminToken)

	srv.Shutdown()
	r := waitReady(t, a, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), "no NATS connection") {
		t.Errorf("/readyz body %s does not say why", r.body)
	}
	srv.Restart(t)
	waitReady(t, a, http.StatusOK)
	if got := answer[struct{ Pong bool }](s, "ping", nil); !got.Pong {
		t.Errorf("ping after the reconnect: %+v", got)
	}
	if got := metricValue(t, scrape(t, a), "weft_cluster_nats_reconnects_total", "node", "node-a"); got < 1 {
		t.Errorf("weft_cluster_nats_reconnects_total = %v, want at least 1", got)
	}
}

// waitReady polls /readyz until it answers status.
func waitReady(t *testing.T, ts *testServer, status int) httpResult {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := httpDo(t, ts, "GET", "/readyz", "", nil)
		if r.status == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d (%s), want %d", r.status, r.body, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterNodeIDDefault(t *testing.T) {
	srv := natstest.Server(t)
	_, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Cluster: server.ClusterConfig{NATSURLs: srv.URL()}})
	if err == nil || !strings.Contains(err.Error(), "--node-id") {
		t.Errorf("a random port without a node id: %v, want an error naming --node-id", err)
	}
	s, err := server.New(server.Config{Addr: "127.0.0.1:18431", DataDir: t.TempDir(), Cluster: server.ClusterConfig{NATSURLs: srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	host, _ := os.Hostname()
	if got, want := s.Service().Info().Node, host+":18431"; got != want {
		t.Errorf("node id = %q, want %q", got, want)
	}
	_, err = server.New(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Cluster: server.ClusterConfig{NATSURLs: "nats://127.0.0.1:1", NodeID: "n"}})
	if err == nil || !strings.Contains(err.Error(), "connect to NATS") {
		t.Errorf("no NATS server: %v, want a connect error", err)
	}
}

// A node whose NATS server is gone still shuts down cleanly: it does not
// wait for a hand-over that cannot happen (its leases expire by
// themselves).
func TestClusterShutdownWithoutNATS(t *testing.T) {
	srv := natstest.Server(t)
	a := bootNode(t, "node-a", srv.URL(), nil)
	srv.Shutdown()
	waitReady(t, a, http.StatusServiceUnavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("shutdown without NATS: %v", err)
	}
	if ctx.Err() != nil {
		t.Errorf("shutdown without NATS used up its context")
	}
}
