package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/internal/natstest"
)

// fastTimings make lease tests quick: a lease lives 2 s, renewed every
// 500 ms. The tests of the promised 15 s use the defaults.
func fastConfig(id string) cluster.Config {
	return cluster.Config{NodeID: id, LeaseTTL: 2 * time.Second, RenewInterval: 500 * time.Millisecond}
}

// tracker watches every node of a test and checks what the cluster
// promises while it happens: when a node acquires a partition, no other
// node still holds it (Node.Holds, which is what a node checks before it
// acts), and tokens of a partition only grow.
type tracker struct {
	t  testing.TB
	mu sync.Mutex
	// every handler of the test, including stopped nodes'
	handlers  []*handler
	lastToken map[int]cluster.Token
}

func newTracker(t testing.TB) *tracker {
	return &tracker{t: t, lastToken: map[int]cluster.Token{}}
}

// handler is one node's cluster.Handler: it records what it is told.
type handler struct {
	tr   *tracker
	name string
	node func() *cluster.Node // nil until Join returns

	mu       sync.Mutex
	owned    map[int]cluster.Token
	acquired []acquisition
	lost     []loss
	// onAcquired, if set, runs inside Acquired (to pause the node's
	// goroutine).
	onAcquired func(p int, tok cluster.Token)
}

type acquisition struct {
	p   int
	tok cluster.Token
	at  time.Time
}

type loss struct {
	p      int
	reason cluster.LossReason
	at     time.Time
}

func (tr *tracker) handler(name string) *handler {
	h := &handler{tr: tr, name: name, owned: map[int]cluster.Token{}}
	tr.mu.Lock()
	tr.handlers = append(tr.handlers, h)
	tr.mu.Unlock()
	return h
}

func (h *handler) Acquired(p int, tok cluster.Token) {
	h.tr.checkAcquire(h, p, tok)
	h.mu.Lock()
	if _, dup := h.owned[p]; dup {
		h.tr.t.Errorf("%s: Acquired(%d) while it already holds it", h.name, p)
	}
	h.owned[p] = tok
	h.acquired = append(h.acquired, acquisition{p, tok, time.Now()})
	hook := h.onAcquired
	h.mu.Unlock()
	if hook != nil {
		hook(p, tok)
	}
}

func (h *handler) Lost(p int, reason cluster.LossReason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.owned[p]; !ok {
		h.tr.t.Errorf("%s: Lost(%d, %s) of a partition it does not hold", h.name, p, reason)
	}
	delete(h.owned, p)
	h.lost = append(h.lost, loss{p, reason, time.Now()})
}

func (tr *tracker) checkAcquire(by *handler, p int, tok cluster.Token) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tok <= tr.lastToken[p] {
		tr.t.Errorf("%s acquired partition %d with token %d, not above the previous %d", by.name, p, tok, tr.lastToken[p])
	}
	tr.lastToken[p] = tok
	for _, other := range tr.handlers {
		if other == by {
			continue
		}
		other.mu.Lock()
		theirs, held := other.owned[p]
		other.mu.Unlock()
		if held && other.node != nil && other.node().Holds(p, theirs) {
			tr.t.Errorf("%s acquired partition %d while %s still holds it (token %d)", by.name, p, other.name, theirs)
		}
	}
}

func (h *handler) ownedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.owned)
}

func (h *handler) lossCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lost)
}

func (h *handler) losses(reason cluster.LossReason) []loss {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []loss
	for _, l := range h.lost {
		if l.reason == reason {
			out = append(out, l)
		}
	}
	return out
}

// testNode is a started node and how to stop it.
type testNode struct {
	*cluster.Node
	h    *handler
	nc   *nats.Conn
	kill context.CancelFunc // stop without release
}

// join starts a node on its own connection to urls. Its context is
// cancelled (a stop without release) at the end of the test.
func (tr *tracker) join(t testing.TB, urls string, cfg cluster.Config, opts ...nats.Option) *testNode {
	t.Helper()
	nc := natstest.Connect(t, urls, opts...)
	n, err := tr.joinOn(t, nc, cfg, tr.handler(cfg.NodeID))
	if err != nil {
		t.Fatalf("join %s: %v", cfg.NodeID, err)
	}
	return n
}

func (tr *tracker) joinOn(t testing.TB, nc *nats.Conn, cfg cluster.Config, h *handler) (*testNode, error) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := cluster.Join(ctx, js, cfg, h)
	if err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(func() {
		cancel()
		<-n.Done()
	})
	tr.mu.Lock()
	h.node = func() *cluster.Node { return n }
	tr.mu.Unlock()
	return &testNode{Node: n, h: h, nc: nc, kill: cancel}, nil
}

// eventually polls cond until it holds or the bound passes (a bound, not
// a timing assertion: generous, for a loaded machine under -race).
func eventually(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// balanced reports whether the nodes hold every partition between them,
// each at most ceil(P/len(nodes)) by the handlers and by Owned, and each
// sees all of them as members.
func balanced(partitions int, nodes ...*testNode) bool {
	share := (partitions + len(nodes) - 1) / len(nodes)
	total := 0
	for _, n := range nodes {
		c := n.h.ownedCount()
		if c > share || len(n.Owned()) != c || len(n.Members()) != len(nodes) {
			return false
		}
		total += c
	}
	return total == partitions
}

func counts(nodes ...*testNode) string {
	s := ""
	for _, n := range nodes {
		s += fmt.Sprintf("%s=%d ", n.Self().ID, n.h.ownedCount())
	}
	return s
}

// holdAll reports whether the nodes hold every partition between them.
func holdAll(partitions int, nodes ...*testNode) bool {
	var all []int
	for _, n := range nodes {
		for p := range n.Owned() {
			all = append(all, p)
		}
	}
	slices.Sort(all)
	return len(slices.Compact(all)) == partitions && len(all) == partitions
}
