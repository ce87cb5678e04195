package actors

import (
	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// pendingWrite is what an execution actor hands the store in one commit:
// one append, or several merged.
//
// An execution keeps at most maxWritesInFlight writes with the store.
// Appends that arrive while they are out (a token stream's deltas,
// parallel branches' checkpoints) are merged into the next one, in order,
// and committed together when one is back: group commit per execution, on
// top of the store's group commit across executions. A stream that emits faster than
// the disk syncs then costs one store operation, one callback and one
// publish per commit instead of per event, and its appends cannot pile up
// in the store's queue.
// maxWritesInFlight is two so that a step's task_start (sent without
// waiting) and its task_end (sent as soon as the task returns) can share
// the store's next group commit, as they did before writes were merged:
// with one, every step cost two commits in a row.
const maxWritesInFlight = 2

type pendingWrite struct {
	w       persistence.Write
	replies []chan<- error // the steps waiting for this commit
	credits int            // emit credits its events hold
}

func newPendingWrite(w persistence.Write, reply chan<- error, credits int) *pendingWrite {
	p := &pendingWrite{w: w, credits: credits}
	if reply != nil {
		p.replies = []chan<- error{reply}
	}
	return p
}

// merge appends w after what p holds. Seqs were assigned in append order,
// so the merged events still continue the log; a later status replaces an
// earlier one (the record ends at the last).
func (p *pendingWrite) merge(w persistence.Write, reply chan<- error, credits int) {
	p.credits += credits
	p.w.Events = append(p.w.Events, w.Events...)
	p.w.Steps = append(p.w.Steps, w.Steps...)
	p.w.ConsumeSignals = append(p.w.ConsumeSignals, w.ConsumeSignals...)
	if w.Status != nil {
		p.w.Status = w.Status
	}
	if reply != nil {
		p.replies = append(p.replies, reply)
	}
}

// status is the status the write sets, "" for none.
func (p *pendingWrite) status() weft.Status {
	if p.w.Status == nil {
		return ""
	}
	return p.w.Status.Status
}

// answer tells every waiting step how the commit went.
func (p *pendingWrite) answer(err error) {
	for _, reply := range p.replies {
		reply <- err
	}
}

// maxUncommittedEmits bounds the events a run has emitted without waiting
// (Emit: task_start, llm_delta) that are not committed yet. Past it, Emit
// waits for the store: a workflow that streams faster than the disk syncs
// is slowed to the disk's pace instead of growing the actor's queue.
const maxUncommittedEmits = 4096

// emitCredits is that bound: a run's Emit takes a credit before it sends
// its event, the actor gives it back once the event is committed (or
// refused). The channel is the actor's and outlives its runs.
type emitCredits chan struct{}

func newEmitCredits() emitCredits { return make(emitCredits, maxUncommittedEmits) }

// take waits for a credit, or for done (the run is ending: its event
// would be refused anyway); false then.
func (c emitCredits) take(done <-chan struct{}) bool {
	select {
	case c <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

// release gives back n credits. It never blocks the actor, even if the
// count were wrong.
func (c emitCredits) release(n int) {
	for range n {
		select {
		case <-c:
		default:
			return
		}
	}
}
