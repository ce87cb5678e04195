package workflows

import (
	"encoding/json"
	"fmt"
)

// Concurrency limits how many executions of a workflow run at once and how
// fast they start. Starts over a limit are accepted and stored as queued,
// then started in FIFO order as slots free up (across restarts too).
type Concurrency struct {
	Max      int     // running at once (0: no limit)
	KeyField string  // top-level parameter whose value groups executions
	PerKey   int     // running at once per value of KeyField (0: no limit)
	Rate     float64 // starts per second (0: no limit)
}

// Limited reports whether any limit is set.
func (c Concurrency) Limited() bool { return c.Max > 0 || c.PerKey > 0 || c.Rate > 0 }

// KeyOf returns the concurrency key of an execution's parameters ("" when
// the workflow has no per-key limit or the field is absent).
func (c Concurrency) KeyOf(params json.RawMessage) string {
	if c.KeyField == "" || c.PerKey <= 0 {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(params, &fields) != nil {
		return ""
	}
	raw, ok := fields[c.KeyField]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return fmt.Sprint(string(raw))
}

// MaxConcurrent allows at most n executions of the workflow to run at once.
func MaxConcurrent(n int) Option { return func(d *Definition) { d.concurrency.Max = n } }

// ConcurrencyKey allows at most n running executions per value of the
// top-level parameter field (e.g. 2 per organization_id).
func ConcurrencyKey(field string, n int) Option {
	return func(d *Definition) { d.concurrency.KeyField, d.concurrency.PerKey = field, n }
}

// MaxStartsPerSecond starts at most r executions of the workflow per
// second; the rest wait queued.
func MaxStartsPerSecond(r float64) Option { return func(d *Definition) { d.concurrency.Rate = r } }

// Concurrency returns the workflow's limits.
func (d *Definition) Concurrency() Concurrency { return d.concurrency }
