package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft/persistence"
)

// Messages about signals.
type (
	// takeSignal reserves the oldest signal of a name for a waiting step.
	takeSignal struct {
		name  string
		wait  time.Duration
		reply chan<- takeResult
	}
	takeResult struct {
		sig persistence.Signal
		ok  bool
		err error
	}
	// signalArrived: a signal was stored for this execution.
	signalArrived struct{ sig persistence.Signal }
	// signalWaitOver ends one waiter's wait without a signal.
	signalWaitOver struct{ waiter *signalWaiter }
)

type signalWaiter struct {
	name  string
	reply chan<- takeResult
	timer *time.Timer
}

// signalInbox is the execution's view of its stored, unconsumed signals.
// A signal handed to a step is reserved until the step's checkpoint
// consumes it in the store; a new run reloads the inbox from the store.
type signalInbox struct {
	pending []persistence.Signal
	known   map[uint64]bool // every seq seen, reserved or not
	waiters []*signalWaiter
}

func (in *signalInbox) reload(signals []persistence.Signal) {
	in.pending = signals
	in.known = make(map[uint64]bool, len(signals))
	for _, s := range signals {
		in.known[s.Seq] = true
	}
}

func (in *signalInbox) has(name string) bool {
	for _, s := range in.pending {
		if s.Name == name {
			return true
		}
	}
	return false
}

// take removes and returns the oldest pending signal named name.
func (in *signalInbox) take(name string) (persistence.Signal, bool) {
	for i, s := range in.pending {
		if s.Name == name {
			in.pending = append(in.pending[:i:i], in.pending[i+1:]...)
			return s, true
		}
	}
	return persistence.Signal{}, false
}

// add records a new signal and hands it to a waiter of its name, if any.
func (in *signalInbox) add(sig persistence.Signal) (handed bool) {
	if in.known[sig.Seq] {
		return false
	}
	in.known[sig.Seq] = true
	for i, w := range in.waiters {
		if w.name == sig.Name {
			w.timer.Stop()
			in.waiters = append(in.waiters[:i:i], in.waiters[i+1:]...)
			w.reply <- takeResult{sig: sig, ok: true}
			return true
		}
	}
	in.pending = append(in.pending, sig)
	return false
}

func (in *signalInbox) removeWaiter(w *signalWaiter) bool {
	for i, x := range in.waiters {
		if x == w {
			in.waiters = append(in.waiters[:i:i], in.waiters[i+1:]...)
			return true
		}
	}
	return false
}

func (in *signalInbox) failWaiters(err error) {
	for _, w := range in.waiters {
		w.timer.Stop()
		w.reply <- takeResult{err: err}
	}
	in.waiters = nil
}

func (a *executionActor) takeSignal(msg *takeSignal) {
	if sig, ok := a.inbox.take(msg.name); ok {
		msg.reply <- takeResult{sig: sig, ok: true}
		return
	}
	if msg.wait <= 0 {
		msg.reply <- takeResult{}
		return
	}
	w := &signalWaiter{name: msg.name, reply: msg.reply}
	root, self := a.sys.actors.Root, a.self
	w.timer = time.AfterFunc(msg.wait, func() { root.Send(self, &signalWaitOver{waiter: w}) })
	a.inbox.waiters = append(a.inbox.waiters, w)
}

func (a *executionActor) signalArrived(ctx actor.Context, msg *signalArrived) {
	if a.ending {
		return
	}
	if a.inbox.add(msg.sig) {
		return
	}
	if a.suspended != nil && a.waitingOn == msg.sig.Name {
		a.wake(ctx)
	}
}

func (a *executionActor) signalWaitOver(msg *signalWaitOver) {
	if a.inbox.removeWaiter(msg.waiter) {
		msg.waiter.reply <- takeResult{}
	}
}
