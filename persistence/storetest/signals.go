package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

var signalCases = []testCase{
	{"AddAndConsume", testSignalsAddConsume},
	{"PendingLimit", testSignalsLimit},
	{"Refused", testSignalsRefused},
}

var statusCases = []testCase{
	{"UnfinishedOldestFirst", testUnfinished},
	{"WaitingIndex", testWaitingIndex},
}

func testSignalsAddConsume(t *testing.T, s Store) {
	ctx := t.Context()
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	var added []persistence.Signal
	for _, name := range []string{"approve", "comment", "approve"} {
		sig, err := s.AddSignal(ctx, "exec_1", name, json.RawMessage(`{"by":"`+name+`"}`), 0)
		if err != nil {
			t.Fatal(err)
		}
		if sig.Name != name || sig.ReceivedAt.IsZero() || (len(added) > 0 && sig.Seq <= added[len(added)-1].Seq) {
			t.Fatalf("AddSignal = %+v after %+v: want the name, a time and a growing seq", sig, added)
		}
		added = append(added, sig)
	}
	pending, err := s.Signals(ctx, "exec_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 {
		t.Fatalf("Signals = %+v, want 3", pending)
	}
	for i, sig := range pending {
		if sig.Seq != added[i].Seq || sig.Name != added[i].Name || !sameJSON(sig.Payload, added[i].Payload) || !sig.ReceivedAt.Equal(added[i].ReceivedAt) {
			t.Fatalf("signal %d = %+v, want %+v", i, sig, added[i])
		}
	}

	// A step consumes the middle one in the commit that records it.
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 2), ConsumeSignals: []uint64{added[1].Seq}})
	pending, err = s.Signals(ctx, "exec_1")
	if err != nil || len(pending) != 2 || pending[0].Seq != added[0].Seq || pending[1].Seq != added[2].Seq {
		t.Fatalf("after consuming %d: %+v, %v", added[1].Seq, pending, err)
	}
	// Consuming a signal already gone is not an error.
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 3, 3), ConsumeSignals: []uint64{added[1].Seq, added[0].Seq}})

	// Seqs are never reused, even once consumed.
	sig, err := s.AddSignal(ctx, "exec_1", "late", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(added, func(a persistence.Signal) bool { return a.Seq >= sig.Seq }) {
		t.Fatalf("new signal seq %d is not past the earlier ones %+v", sig.Seq, added)
	}
	pending, _ = s.Signals(ctx, "exec_1")
	if len(pending) != 2 || pending[1].Seq != sig.Seq || pending[1].Payload != nil && string(pending[1].Payload) != "null" {
		t.Fatalf("pending = %+v", pending)
	}
}

func testSignalsLimit(t *testing.T, s Store) {
	ctx := t.Context()
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	var seqs []uint64
	for range 3 {
		sig, err := s.AddSignal(ctx, "exec_1", "tick", nil, 3)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, sig.Seq)
	}
	if _, err := s.AddSignal(ctx, "exec_1", "tick", nil, 3); !errors.Is(err, persistence.ErrLimit) {
		t.Fatalf("fourth signal with a limit of 3 = %v, want ErrLimit", err)
	}
	if pending, _ := s.Signals(ctx, "exec_1"); len(pending) != 3 {
		t.Fatalf("the refused signal was stored: %+v", pending)
	}
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", ConsumeSignals: seqs[:1]})
	if _, err := s.AddSignal(ctx, "exec_1", "tick", nil, 3); err != nil {
		t.Fatalf("after one was consumed: %v", err)
	}
	// 0 means no limit.
	if _, err := s.AddSignal(ctx, "exec_1", "tick", nil, 0); err != nil {
		t.Fatalf("without a limit: %v", err)
	}
}

func testSignalsRefused(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	if _, err := s.AddSignal(t.Context(), "exec_1", "", nil, 0); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("signal without a name = %v, want ErrInvalid", err)
	}
	if _, err := s.AddSignal(t.Context(), "", "go", nil, 0); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("signal without an execution = %v, want ErrInvalid", err)
	}
}

func setStatus(t *testing.T, s Store, id string, st weft.Status, wake time.Time) {
	t.Helper()
	mustCommit(t, s, persistence.Write{ExecutionID: id, Status: &persistence.StatusUpdate{Status: st, At: t0.Add(time.Hour), WakeAt: wake}})
}

func testUnfinished(t *testing.T, s Store) {
	// Created out of order; two share an instant (then id order).
	mustCreate(t, s, newExec("ws", "wf", "exec_c", t0.Add(2*time.Second)))
	mustCreate(t, s, newExec("ws2", "wf", "exec_b", t0))
	mustCreate(t, s, newExec("ws", "wf", "exec_a", t0))
	mustCreate(t, s, newExec("ws", "wf", "exec_d", t0.Add(time.Second)))
	queued := newExec("ws", "wf", "exec_e", t0.Add(3*time.Second))
	queued.Status = weft.StatusQueued
	mustCreate(t, s, queued)
	setStatus(t, s, "exec_d", weft.StatusCompleted, time.Time{})
	setStatus(t, s, "exec_c", weft.StatusWaiting, t0.Add(time.Hour))

	got, err := s.Unfinished(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"exec_a", "exec_b", "exec_c", "exec_e"}; !slices.Equal(ids(got), want) {
		t.Fatalf("Unfinished = %v, want %v", ids(got), want)
	}
	if got[2].Status != weft.StatusWaiting || got[3].Status != weft.StatusQueued || got[0].LastSeq != 1 {
		t.Fatalf("Unfinished records = %+v", got)
	}
}

func testWaitingIndex(t *testing.T, s Store) {
	for _, id := range []string{"exec_1", "exec_2", "exec_3"} {
		mustCreate(t, s, newExec("ws", "wf", id, t0))
	}
	wake := time.Date(2025, 3, 2, 8, 30, 0, 123456789, time.UTC)
	setStatus(t, s, "exec_1", weft.StatusWaiting, wake)
	setStatus(t, s, "exec_2", weft.StatusWaiting, time.Time{}) // a signal wait without a deadline
	setStatus(t, s, "exec_3", weft.StatusWaiting, wake)
	setStatus(t, s, "exec_3", weft.StatusRunning, time.Time{}) // woke up

	idx, err := s.WaitingIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 2 || !idx["exec_1"].Equal(wake) {
		t.Fatalf("WaitingIndex = %v, want exec_1 at %v and exec_2", idx, wake)
	}
	if at, ok := idx["exec_2"]; !ok || !at.IsZero() {
		t.Fatalf("WaitingIndex[exec_2] = %v, %v; want the zero time", at, ok)
	}
	setStatus(t, s, "exec_1", weft.StatusCancelled, time.Time{})
	if idx, _ := s.WaitingIndex(t.Context()); len(idx) != 1 {
		t.Fatalf("after exec_1 ended: %v", idx)
	}
}
