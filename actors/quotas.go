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

func (q Quotas) withDefaults() Quotas {
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
// (reserve) and lowered when an execution ends.
type unfinishedCount struct {
	max int // <= 0: no limit

	mu sync.Mutex
	n  map[string]int
}

func newUnfinishedCount(max int) *unfinishedCount {
	return &unfinishedCount{max: max, n: map[string]int{}}
}

// reserve counts one more unfinished execution of workspace, or refuses
// with LIMIT_EXCEEDED. A reservation whose start stores nothing must be
// released.
func (c *unfinishedCount) reserve(workspace string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.n[workspace] >= c.max {
		return weft.Errorf(weft.CodeLimitExceeded, "workspace %q has %d unfinished executions, its limit; wait for some to end or cancel them", workspace, c.max)
	}
	c.n[workspace]++
	return nil
}

// release counts one unfinished execution of workspace less: it ended, or
// its reservation stored nothing.
func (c *unfinishedCount) release(workspace string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[workspace] <= 1 {
		delete(c.n, workspace)
		return
	}
	c.n[workspace]--
}

// add counts executions found unfinished in the store (recovery).
func (c *unfinishedCount) add(execs []persistence.Execution) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range execs {
		c.n[e.Workspace]++
	}
}
