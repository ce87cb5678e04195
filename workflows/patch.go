package workflows

import (
	"encoding/json"
	"time"

	"github.com/weft-run/weft/checkpoint"
)

// Patched reports whether this execution takes the code path introduced by
// the change named changeID. New executions, and executions that reach this
// point for the first time, take it (true); an execution whose recorded
// history already went past this point without the change keeps its old
// path (false). The answer is recorded, so every later run of the execution
// gets the same one.
//
//	if workflows.Patched(ctx, "charge-with-wallet") {
//		_, err = workflows.Task(ctx, "charge-wallet", chargeWallet)
//	} else {
//		_, err = workflows.Task(ctx, "charge-card", chargeCard)
//	}
//
// Once no execution from before the change is left, remove the old branch
// and keep the Patched call (or remove it too, with a new Version).
func Patched(ctx Context, changeID string) bool {
	c := ctx.state()
	id := "patch:" + c.prefix + changeID
	if rec, ok := c.run.journal.Recorded(id); ok && !rec.Pending() {
		var took bool
		_ = json.Unmarshal(rec.Output, &took)
		return took
	}
	// The positional id the next step will get: if the recorded history
	// already has it, this execution ran past here before the change.
	next := c.prefix + itoa(c.next+1)
	_, replaying := c.run.journal.Recorded(next)
	took := !replaying
	now := time.Now().UTC()
	out, _ := json.Marshal(took)
	rec := checkpoint.Step{ID: id, Kind: "patch", Name: changeID, Output: out, StartedAt: now, CompletedAt: now}
	if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: rec}); err != nil {
		// Not recorded (cancelled, shutting down): the answer is still
		// right for this run, and the next run recomputes it the same way.
		return took
	}
	return took
}
