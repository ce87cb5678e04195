package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// packLog writes an execution's log through Commit and keeps what each
// event's stored bytes must read back as.
type packLog struct {
	t    *testing.T
	s    *persistence.Store
	id   string
	seq  uint64
	want []events.Stored
}

func newPackLog(t *testing.T, s *persistence.Store, id string) *packLog {
	l := &packLog{t: t, s: s, id: id}
	create(t, s, newExec("ws1", "wf", id, t0))
	first := ev(id, 1, events.ExecutionStarted)
	st, _ := events.Encode(first)
	l.want, l.seq = []events.Stored{st}, 1
	return l
}

// write commits evs (seqs assigned here; the rest as given).
func (l *packLog) write(evs ...events.Event) {
	l.t.Helper()
	for i := range evs {
		l.seq++
		evs[i].Data.Seq, evs[i].Data.ExecutionID = l.seq, l.id
		if evs[i].Data.Workflow == "" {
			evs[i].Data.Workflow = "wf"
		}
		st, err := events.Encode(evs[i])
		if err != nil {
			l.t.Fatal(err)
		}
		l.want = append(l.want, st)
	}
	commit(l.t, l.s, persistence.Write{ExecutionID: l.id, Events: evs})
}

func delta(step, text string, at time.Time) events.Event {
	e := events.New(events.LLMDelta, events.LLMDetails{StepID: step, Text: text})
	e.Data.Timestamp = at
	return e
}

// check reads the log back through every read path, from every seq, and
// compares byte for byte.
func (l *packLog) check() {
	l.t.Helper()
	ctx := context.Background()
	last := uint64(len(l.want))
	if e, err := l.s.Execution(ctx, l.id); err != nil || e.LastSeq != last {
		l.t.Fatalf("LastSeq = %d, %v; want %d", e.LastSeq, err, last)
	}
	for after := uint64(0); after <= last; after++ {
		got, err := l.s.StoredEvents(ctx, l.id, after, 0)
		if err != nil {
			l.t.Fatalf("StoredEvents after %d: %v", after, err)
		}
		want := l.want[after:]
		if len(got) != len(want) {
			l.t.Fatalf("StoredEvents after %d: %d events, want %d", after, len(got), len(want))
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].Type != want[i].Type || string(got[i].JSON) != string(want[i].JSON) {
				l.t.Fatalf("StoredEvents after %d, #%d:\n got %d %s %s\nwant %d %s %s", after, i, got[i].Seq, got[i].Type, got[i].JSON, want[i].Seq, want[i].Type, want[i].JSON)
			}
		}
		for _, limit := range []int{1, 7} {
			lim, err := l.s.StoredEvents(ctx, l.id, after, limit)
			if err != nil || len(lim) != min(limit, len(want)) || len(lim) > 0 && lim[0].Seq != after+1 {
				l.t.Fatalf("StoredEvents after %d limit %d: %d events, %v", after, limit, len(lim), err)
			}
		}
		if after%5 != 0 && after != last {
			continue // decoding is slower; every 5th start is enough
		}
		dec, err := l.s.Events(ctx, l.id, after, 0)
		if err != nil || len(dec) != len(want) {
			l.t.Fatalf("Events after %d: %d events, %v", after, len(dec), err)
		}
		for i := range dec {
			w, _ := want[i].Decode()
			if !reflect.DeepEqual(dec[i], w) {
				l.t.Fatalf("Events after %d, #%d:\n got %+v\nwant %+v", after, i, dec[i], w)
			}
			if again, _ := events.Encode(dec[i]); string(again.JSON) != string(want[i].JSON) {
				l.t.Fatalf("Events after %d, #%d re-encodes as %s", after, i, again.JSON)
			}
		}
		if lim, err := l.s.Events(ctx, l.id, after, 3); err != nil || len(lim) != min(3, len(want)) {
			l.t.Fatalf("Events after %d limit 3: %d, %v", after, len(lim), err)
		}
	}
	// The log still refuses a gap and takes the next seq.
	gap := ev(l.id, last+2, events.TaskStart)
	if err := l.s.Commit(ctx, persistence.Write{ExecutionID: l.id, Events: []events.Event{gap}}); !errors.Is(err, persistence.ErrSeqGap) {
		l.t.Fatalf("write after a gap: %v", err)
	}
	dup := delta("1", "dup", t0)
	dup.Data.Seq, dup.Data.ExecutionID, dup.Data.Workflow = last, l.id, "wf"
	if err := l.s.Commit(ctx, persistence.Write{ExecutionID: l.id, Events: []events.Event{dup}}); !errors.Is(err, persistence.ErrSeqGap) {
		l.t.Fatalf("write of a taken seq: %v", err)
	}
}

func TestPackedDeltasReadBackByteForByte(t *testing.T) {
	for _, pack := range []bool{false, true} {
		t.Run(fmt.Sprintf("pack=%v", pack), func(t *testing.T) {
			defer persistence.SetPackDeltas(pack)()
			s, _ := openStore(t, persistence.Options{NoSync: true})
			l := newPackLog(t, s, "ex")
			at := t0
			tick := func() time.Time { at = at.Add(1733 * time.Microsecond); return at }
			l.write(events.New(events.LLMStart, events.LLMDetails{StepID: "1", Provider: "openai", Model: "m"}))
			l.write(delta("1", "Hello", tick()))                               // alone
			l.write(delta("1", " world", tick()), delta("1", ",", tick()))     // continues the record
			l.write(delta("1", ` "quoted" \ back`, tick()))                    // escapes
			l.write(delta("1", "\u2028 <b>&</b> é 🙂\n\t", tick()))             // json.Marshal's escapes, unicode
			l.write(delta("2", "other step", tick()), delta("1", "x", tick())) // interleaved steps
			back := delta("1", "clock went back", at.Add(-time.Hour))
			l.write(back, delta("1", "and on", tick()))
			zone := delta("1", "not UTC", at.In(time.FixedZone("X", 3600)))
			replay := delta("1", "replay", tick())
			replay.Data.Replay = true
			empty := delta("1", "", tick()) // no text field
			l.write(zone, replay, empty, delta("1", "after", tick()))
			l.write(events.New(events.TaskStart, events.TaskDetails{StepID: "3", Name: "t", Attempt: 1}))
			var burst []events.Event
			for i := range 700 { // several records' worth
				burst = append(burst, delta("1", fmt.Sprintf("tok%d ", i), tick()))
			}
			l.write(burst...)
			for i := range 40 { // paced: one delta per write
				l.write(delta("1", fmt.Sprintf("p%d", i), tick()))
			}
			l.write(events.New(events.LLMEnd, events.LLMDetails{StepID: "1", Output: json.RawMessage(`"done"`)}))
			l.check()
			keys, packed, err := persistence.LogKeys(s, "ex")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d events in %d keys (%d packed)", len(l.want), keys, packed)
			if pack && (packed == 0 || keys > len(l.want)/10) {
				t.Errorf("packing on: %d events in %d keys (%d packed)", len(l.want), keys, packed)
			}
			if !pack && (packed != 0 || keys != len(l.want)) {
				t.Errorf("packing off: %d events in %d keys (%d packed)", len(l.want), keys, packed)
			}
		})
	}
}

// TestPackedDeltasMixedLog: a log written partly before packing existed
// (plain deltas) and partly after reads back the same, and each side
// continues the other.
func TestPackedDeltasMixedLog(t *testing.T) {
	s, path := openStore(t, persistence.Options{NoSync: true})
	l := newPackLog(t, s, "ex")
	at := t0
	tick := func() time.Time { at = at.Add(time.Millisecond); return at }
	for round := range 6 {
		restore := persistence.SetPackDeltas(round%2 == 1)
		for i := range 5 {
			l.write(delta("1", fmt.Sprintf("r%d-%d ", round, i), tick()), delta("1", "+", tick()))
		}
		restore()
	}
	l.check()
	// And after a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	l.s = s2
	l.check()
}

// TestPackedDeltasRandom writes random streams (random text bytes, steps,
// timestamps, write sizes, record caps) and reads them back from every seq.
func TestPackedDeltasRandom(t *testing.T) {
	defer persistence.SetPackDeltas(true)()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("ab \"\\/\n\t<>&é🙂\u2028\x00\x7f}{:,")
	s, _ := openStore(t, persistence.Options{NoSync: true})
	for run := range 12 {
		restore := persistence.SetPackMaxBytes(64 + rng.IntN(3000))
		l := newPackLog(t, s, fmt.Sprintf("ex%d", run))
		at := t0
		for range 30 {
			var evs []events.Event
			for range 1 + rng.IntN(20) {
				at = at.Add(time.Duration(rng.Int64N(int64(time.Second))) - 100*time.Millisecond)
				var sb strings.Builder
				for range rng.IntN(12) {
					sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
				}
				step := fmt.Sprint(1 + rng.IntN(2))
				if rng.IntN(15) == 0 {
					evs = append(evs, events.New(events.TaskStart, events.TaskDetails{StepID: step, Name: sb.String()}))
					evs[len(evs)-1].Data.Timestamp = at
					continue
				}
				evs = append(evs, delta(step, sb.String(), at))
			}
			l.write(evs...)
		}
		l.check()
		restore()
	}
}
