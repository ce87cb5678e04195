package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/weft-run/weft/persistence"
)

func TestSignalInbox(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{})
	exec := newExec("acme", "approval", "exec_sig", time.Now())
	create(t, s, exec)
	a, err := s.AddSignal(ctx, exec.ID, "approve", json.RawMessage(`{"by":"ann"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AddSignal(ctx, exec.ID, "approve", json.RawMessage(`{"by":"bob"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Seq == 0 || b.Seq != a.Seq+1 {
		t.Fatalf("seqs %d, %d", a.Seq, b.Seq)
	}
	got, err := s.Signals(ctx, exec.ID)
	if err != nil || len(got) != 2 || string(got[0].Payload) != `{"by":"ann"}` || got[1].Name != "approve" {
		t.Fatalf("inbox = %+v, %v", got, err)
	}
	// Consuming happens with the step that received it, in one commit.
	err = s.Commit(ctx, persistence.Write{
		ExecutionID:    exec.ID,
		Steps:          []persistence.Step{{ID: "1", Kind: "signal", Name: "approve", Output: a.Payload}},
		ConsumeSignals: []uint64{a.Seq},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.Signals(ctx, exec.ID)
	if len(got) != 1 || got[0].Seq != b.Seq {
		t.Fatalf("after consume = %+v", got)
	}
	if _, err := s.AddSignal(ctx, "exec_nope", "approve", nil, 0); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("signal to unknown execution: %v", err)
	}
	if _, err := s.Signals(ctx, "exec_nope"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("signals of unknown execution: %v", err)
	}
}

func TestAddSignalRefusesPastMaxPending(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{})
	exec := newExec("acme", "approval", "exec_full", time.Now())
	create(t, s, exec)
	for i := range 3 {
		if _, err := s.AddSignal(ctx, exec.ID, "tick", nil, 3); err != nil {
			t.Fatalf("signal %d: %v", i, err)
		}
	}
	if _, err := s.AddSignal(ctx, exec.ID, "tick", nil, 3); !errors.Is(err, persistence.ErrLimit) {
		t.Fatalf("fourth signal: %v, want ErrLimit", err)
	}
	got, _ := s.Signals(ctx, exec.ID)
	if len(got) != 3 {
		t.Fatalf("%d signals stored, want 3", len(got))
	}
	// Consuming one makes room again.
	if err := s.Commit(ctx, persistence.Write{ExecutionID: exec.ID, ConsumeSignals: []uint64{got[0].Seq}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddSignal(ctx, exec.ID, "tick", nil, 3); err != nil {
		t.Fatalf("after a consume: %v", err)
	}
}
