package jsstore

import (
	"errors"
	"testing"

	"github.com/weft-run/weft/persistence"
)

// Ended entries and rollup values come from the store: a damaged one is
// ErrCorrupt (or a rollup error), never a panic.
func FuzzEndedAndRollup(f *testing.F) {
	f.Add([]byte(`{"ws":"ws","id":"exec_1","ended":"2025-03-01T12:00:00Z"}`))
	f.Add([]byte(`{"ws":"","id":"exec_1"}`))
	f.Add([]byte{1, 1, 0, 0, 10, 1, 5, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if e, err := decodeEnded(7, data); err == nil {
			if e.ID == "" || e.Workspace == "" || e.Ended.IsZero() {
				t.Fatalf("incomplete entry accepted: %+v", e)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("entry %q: %v", data, err)
		}
		if r, err := persistence.DecodeStatsRollup(data); err == nil {
			var sum persistence.StatsSum
			if err := sum.AddEncoded(r.Encode()); err != nil {
				t.Fatalf("a decoded rollup does not add back: %v", err)
			}
		}
	})
}
