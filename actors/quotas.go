package actors

import (
	"sync"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// Quotas bound what one workspace or execution may hold (PROTOCOL.md
// section 6, answered LIMIT_EXCEEDED). Zero takes the default; a negative
// value means no limit.
type Quotas struct {
	// SignalsPerExecution bounds the signals stored for an execution and
	// not yet consumed by it (default 1,000).
	SignalsPerExecution int
	// ExecutionsPerWorkspace bounds a workspace's unfinished executions:
	// running, waiting and queued (default 100,000).
	ExecutionsPerWorkspace int
	// RoomsPerConnection bounds the rooms one connection is in (default
	// 100).
	RoomsPerConnection int
}

// Defaults of Quotas.
const (
	DefaultSignalsPerExecution    = 1000
	DefaultExecutionsPerWorkspace = 100_000
	DefaultRoomsPerConnection     = 100
)

// WithDefaults fills the zero fields with their defaults (a negative one
// stays: no limit).
func (q Quotas) WithDefaults() Quotas {
	if q.SignalsPerExecution == 0 {
		q.SignalsPerExecution = DefaultSignalsPerExecution
	}
	if q.ExecutionsPerWorkspace == 0 {
		q.ExecutionsPerWorkspace = DefaultExecutionsPerWorkspace
	}
	if q.RoomsPerConnection == 0 {
		q.RoomsPerConnection = DefaultRoomsPerConnection
	}
	return q
}

// unfinishedCount counts each workspace's unfinished executions, so that
// a start can be refused without scanning the store. It is counted from
// the store at Recover, raised by a start before its execution is stored
// (reserve) and lowered when an execution ends. Each execution is counted
// once, by id: in cluster mode a node counts the executions it runs, adds
// a partition's when it acquires it (again, after a hand-back, without
// counting twice) and drops them when it loses it (drop), so the count of
// a node does not drift as partitions move.
type unfinishedCount struct {
	max int // <= 0: no limit
	// share, in cluster mode, is the part of max this node enforces over
	// the executions it runs: its partitions' share of max
	// (ownership.share). A counter shared by the nodes would cost more
	// than the start it guards (README "Cluster mode").
	share func(max int) int

	mu  sync.Mutex
	n   map[string]int    // workspace -> unfinished executions counted
	ids map[string]string // execution id -> its workspace, of those counted
}

func newUnfinishedCount(max int) *unfinishedCount {
	return &unfinishedCount{max: max, n: map[string]int{}, ids: map[string]string{}}
}

// reserve counts execution id of workspace, or refuses with
// LIMIT_EXCEEDED. A reservation whose start stores nothing must be
// released.
func (c *unfinishedCount) reserve(workspace, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, counted := c.ids[id]; counted {
		return nil
	}
	if c.max > 0 && c.share != nil {
		if limit := c.share(c.max); c.n[workspace] >= limit {
			return weft.Errorf(weft.CodeLimitExceeded, "workspace %q has %d unfinished executions on this node, its share of the cluster's limit of %d; wait for some to end or cancel them", workspace, limit, c.max)
		}
	}
	if c.max > 0 && c.n[workspace] >= c.max {
		return weft.Errorf(weft.CodeLimitExceeded, "workspace %q has %d unfinished executions, its limit; wait for some to end or cancel them", workspace, c.max)
	}
	c.count(workspace, id)
	return nil
}

func (c *unfinishedCount) count(workspace, id string) {
	c.n[workspace]++
	c.ids[id] = workspace
}

// release stops counting execution id: it ended, or its reservation
// stored nothing. An id not counted is ignored.
func (c *unfinishedCount) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(id)
}

func (c *unfinishedCount) forget(id string) {
	ws, ok := c.ids[id]
	if !ok {
		return
	}
	delete(c.ids, id)
	if c.n[ws] <= 1 {
		delete(c.n, ws)
		return
	}
	c.n[ws]--
}

// add counts executions found unfinished in the store (recovery), those
// counted already once.
func (c *unfinishedCount) add(execs []persistence.Execution) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range execs {
		if _, counted := c.ids[e.ID]; !counted {
			c.count(e.Workspace, e.ID)
		}
	}
}

// drop stops counting the executions in says are no longer this node's
// (a partition lost or handed over).
func (c *unfinishedCount) drop(in func(id string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.ids {
		if in(id) {
			c.forget(id)
		}
	}
}
