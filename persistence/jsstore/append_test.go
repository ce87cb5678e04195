package jsstore

import (
	"testing"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

func pending(t *testing.T, w persistence.Write) *pendingWrite {
	t.Helper()
	p, err := prepareWrite(w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMerge(t *testing.T) {
	write := func(from, to uint64, steps ...string) persistence.Write {
		w := persistence.Write{ExecutionID: "e"}
		for s := from; s <= to && from > 0; s++ {
			w.Events = append(w.Events, ev("e", s))
		}
		for _, id := range steps {
			w.Steps = append(w.Steps, persistence.Step{ID: id})
		}
		return w
	}
	withStatus := func(w persistence.Write, st weft.Status) persistence.Write {
		w.Status = &persistence.StatusUpdate{Status: st, At: t0}
		return w
	}
	tests := []struct {
		name       string
		writes     []persistence.Write
		maxBytes   int
		wantN      int
		wantEvents int
		wantSteps  []string
		wantStatus weft.Status
	}{
		{"one", []persistence.Write{write(2, 3, "a")}, 1 << 20, 1, 2, []string{"a"}, ""},
		{"a step's two writes", []persistence.Write{write(2, 2), write(3, 3, "a")}, 1 << 20, 2, 2, []string{"a"}, ""},
		{"stops at a gap", []persistence.Write{write(2, 2), write(4, 4), write(3, 3)}, 1 << 20, 1, 1, nil, ""},
		{"writes without events", []persistence.Write{write(2, 2, "a"), write(0, 0, "b"), write(3, 3, "a")}, 1 << 20, 3, 2, []string{"a", "b", "a"}, ""},
		{"last status wins", []persistence.Write{withStatus(write(2, 2), weft.StatusWaiting), withStatus(write(3, 3), weft.StatusRunning)}, 1 << 20, 2, 2, nil, weft.StatusRunning},
		{"stops at the size", []persistence.Write{write(2, 2), write(3, 3), write(4, 4)}, 200, 1, 1, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var queued []*pendingWrite
			for _, w := range tc.writes {
				queued = append(queued, pending(t, w))
			}
			m, n, err := merge(queued, 1, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantN || len(m.events) != tc.wantEvents || m.firstSeq != 2 {
				t.Fatalf("merged %d writes, %d events from seq %d; want %d, %d from 2", n, len(m.events), m.firstSeq, tc.wantN, tc.wantEvents)
			}
			var steps []string
			var status weft.Status
			if m.commit != nil {
				for _, st := range m.commit.Steps {
					steps = append(steps, st.ID)
				}
				if m.commit.Status != nil {
					status = m.commit.Status.Status
				}
				c, err := decodeCommit(m.commitRaw)
				if err != nil || len(c.Steps) != len(m.commit.Steps) {
					t.Fatalf("commitRaw = %s, %v", m.commitRaw, err)
				}
			}
			if len(steps) != len(tc.wantSteps) || status != tc.wantStatus {
				t.Fatalf("steps %v status %q, want %v %q", steps, status, tc.wantSteps, tc.wantStatus)
			}
			for i := range steps {
				if steps[i] != tc.wantSteps[i] {
					t.Fatalf("steps %v, want %v", steps, tc.wantSteps)
				}
			}
		})
	}
}

func TestLastOfEach(t *testing.T) {
	steps := []persistence.Step{{ID: "a", Name: "1"}, {ID: "b"}, {ID: "a", Name: "2"}}
	got := lastOfEach(steps)
	if len(got) != 2 || got[0].ID != "b" || got[1].Name != "2" {
		t.Fatalf("lastOfEach = %+v", got)
	}
}
