package events_test

import (
	"fmt"
	"testing"

	"github.com/weft-run/weft/events"
)

func ev(seq uint64) events.Event {
	return events.Event{Type: events.TaskStart, Data: events.Data{Seq: seq}}
}

func seqs(evs []events.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprint(e.Seq(), " ")
	}
	return s
}

func TestSequencer(t *testing.T) {
	tests := []struct {
		name    string
		after   uint64
		pushes  []uint64
		want    []string // released after each push
		next    uint64
		waiting bool
	}{
		{"in order", 0, []uint64{1, 2, 3}, []string{"1 ", "2 ", "3 "}, 4, false},
		{"after a seq", 5, []uint64{5, 6, 7}, []string{"", "6 ", "7 "}, 8, false},
		{"reordered", 0, []uint64{2, 3, 1}, []string{"", "", "1 2 3 "}, 4, false},
		{"duplicate", 0, []uint64{1, 1, 2, 1}, []string{"1 ", "", "2 ", ""}, 3, false},
		{"duplicate early arrival", 0, []uint64{3, 3, 1}, []string{"", "", "1 "}, 2, true},
		{"gap stays", 0, []uint64{1, 3, 4}, []string{"1 ", "", ""}, 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := events.NewSequencer(tc.after)
			for i, p := range tc.pushes {
				if got := seqs(s.Push(ev(p))); got != tc.want[i] {
					t.Fatalf("push %d released %q, want %q", p, got, tc.want[i])
				}
			}
			if s.Next() != tc.next || s.Waiting() != tc.waiting {
				t.Fatalf("next=%d waiting=%v, want %d %v", s.Next(), s.Waiting(), tc.next, tc.waiting)
			}
		})
	}
}

// FuzzSequencer: whatever order and duplication the bus produces, the
// sequencer releases each seq exactly once, in order.
func FuzzSequencer(f *testing.F) {
	f.Add([]byte{3, 1, 2, 2, 5, 4})
	f.Fuzz(func(t *testing.T, order []byte) {
		s := events.NewSequencer(0)
		var released []uint64
		seen := map[uint64]bool{}
		for _, b := range order {
			seq := uint64(b%32) + 1
			seen[seq] = true
			for _, e := range s.Push(ev(seq)) {
				released = append(released, e.Seq())
			}
		}
		for i, seq := range released {
			if seq != uint64(i+1) {
				t.Fatalf("released %v", released)
			}
		}
		for seq := uint64(1); seen[seq]; seq++ {
			if seq > uint64(len(released)) {
				t.Fatalf("seq %d seen and contiguous but not released: %v", seq, released)
			}
		}
	})
}
