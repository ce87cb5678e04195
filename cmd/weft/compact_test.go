package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// compactFixture fills a store through the persistence API with n
// executions of 10 steps each (20 events, 10 checkpoints, a status) and
// returns what each one's log holds, as stored bytes.
func compactFixture(t *testing.T, path string, n int) map[string][]string {
	t.Helper()
	st, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	logs := map[string][]string{}
	for i := range n {
		id := fmt.Sprintf("exec_%05d", i)
		at := t0.Add(time.Duration(i) * time.Second)
		stamp := func(e events.Event, seq uint64) events.Event {
			e.Data.Seq, e.Data.Timestamp, e.Data.ExecutionID, e.Data.Workflow = seq, at.Add(time.Duration(seq)*time.Millisecond), id, "countdown"
			return e
		}
		first := stamp(events.New(events.ExecutionStarted, events.ExecutionStartedDetails{Parameters: json.RawMessage(`{"steps":10}`), Metadata: json.RawMessage(`{}`)}), 1)
		exec := persistence.Execution{ID: id, Workspace: "acme", Workflow: "countdown", Status: weft.StatusRunning,
			Parameters: json.RawMessage(`{"steps":10}`), Metadata: json.RawMessage(`{}`), CreatedAt: at, UpdatedAt: at}
		if _, err := st.CreateExecution(ctx, exec, first); err != nil {
			t.Fatal(err)
		}
		all := []events.Event{first}
		seq := uint64(2)
		for s := 1; s <= 10; s++ {
			sid, name := fmt.Sprint(s), fmt.Sprintf("step-%d", s)
			out := json.RawMessage(fmt.Sprintf(`"step %d of %s done"`, s, id))
			evs := []events.Event{
				stamp(events.New(events.TaskStart, events.TaskDetails{StepID: sid, Name: name, Attempt: 1}), seq),
				stamp(events.New(events.TaskEnd, events.TaskDetails{StepID: sid, Name: name, Attempt: 1, Output: out}), seq+1),
			}
			seq += 2
			w := persistence.Write{ExecutionID: id, Events: evs, Steps: []persistence.Step{{ID: sid, Kind: "task", Name: name, Output: out, Attempts: 1, StartedAt: at, CompletedAt: at}}}
			if s == 10 {
				w.Status = &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: out, At: at}
			}
			if err := st.Commit(ctx, w); err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
		}
		for _, e := range all {
			s, err := events.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			logs[id] = append(logs[id], string(s.JSON))
		}
	}
	return logs
}

// deleteRaw removes executions straight from the bbolt file (record, log,
// steps, index entries), as a retention job would: it leaves free pages.
func deleteRaw(t *testing.T, path string, ids []string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			k := []byte(id)
			if err := tx.Bucket([]byte("executions")).Delete(k); err != nil {
				return err
			}
			for _, b := range []string{"events", "steps"} {
				if err := tx.Bucket([]byte(b)).DeleteBucket(k); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
					return err
				}
			}
		}
		// Index keys end with the id.
		for _, b := range []string{"by_workspace", "by_status", "unfinished", "idempotency"} {
			bk := tx.Bucket([]byte(b))
			var dead [][]byte
			_ = bk.ForEach(func(k, _ []byte) error {
				for _, id := range ids {
					if bytes.HasSuffix(k, []byte(id)) {
						dead = append(dead, bytes.Clone(k))
					}
				}
				return nil
			})
			for _, k := range dead {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// checkLogs reopens the store and checks that every kept execution reads
// back byte for byte (events, steps, record) and the deleted ones are gone.
func checkLogs(t *testing.T, path string, kept map[string][]string, deleted []string) {
	t.Helper()
	st, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for id, want := range kept {
		got, err := st.StoredEvents(ctx, id, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		var gotS []string
		for _, s := range got {
			gotS = append(gotS, string(s.JSON))
		}
		if strings.Join(gotS, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: events after compaction differ:\n%s\nwant\n%s", id, strings.Join(gotS, "\n"), strings.Join(want, "\n"))
		}
		// Resume from the middle.
		if mid, err := st.StoredEvents(ctx, id, 7, 0); err != nil || len(mid) != len(want)-7 || string(mid[0].JSON) != want[7] {
			t.Fatalf("%s: events after seq 7: %d, %v", id, len(mid), err)
		}
		e, err := st.Execution(ctx, id)
		if err != nil || e.LastSeq != uint64(len(want)) || e.Status != weft.StatusCompleted {
			t.Fatalf("%s: record %+v, %v", id, e, err)
		}
		steps, err := st.Steps(ctx, id)
		if err != nil || len(steps) != 10 || steps["10"].Name != "step-10" {
			t.Fatalf("%s: %d steps, %v", id, len(steps), err)
		}
	}
	for _, id := range deleted {
		if _, err := st.Execution(ctx, id); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("deleted %s: %v", id, err)
		}
	}
	list, _, err := st.List(ctx, persistence.ListFilter{Workspace: "acme", Limit: 1000})
	if err != nil || len(list) != len(kept) {
		t.Fatalf("List: %d executions, %v; want %d", len(list), err, len(kept))
	}
	// The compacted store takes writes.
	if err := st.Commit(ctx, persistence.Write{ExecutionID: list[0].ID, Events: []events.Event{{Type: events.TaskStart, Data: events.Data{Seq: list[0].LastSeq + 1}}}}); err != nil {
		t.Fatalf("write after compaction: %v", err)
	}
}

func TestCompact(t *testing.T) {
	old := compactLockHold
	compactLockHold = 10 * time.Millisecond
	t.Cleanup(func() { compactLockHold = old })

	dir := t.TempDir()
	path := filepath.Join(dir, "weft.db")
	logs := compactFixture(t, path, 300)
	var deleted []string
	kept := map[string][]string{}
	for id, l := range logs {
		if len(deleted) < 270 {
			deleted = append(deleted, id)
		} else {
			kept[id] = l
		}
	}
	deleteRaw(t, path, deleted)
	before := fileSize(t, path)

	t.Run("refuses while the store is open", func(t *testing.T) {
		st, err := persistence.Open(path, persistence.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		code, _, errOut := weftCmd(t, "compact", "--data-dir", dir)
		if code != exitFailed || !strings.Contains(errOut, "weft serve is running on this data dir; stop it first") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got := fileSize(t, path); got != before {
			t.Fatalf("size changed to %d", got)
		}
	})

	t.Run("usage", func(t *testing.T) {
		if code, _, _ := weftCmd(t, "compact"); code != exitUsage {
			t.Fatalf("no --data-dir: exit %d", code)
		}
		if code, _, _ := weftCmd(t, "compact", "--data-dir", t.TempDir()); code != exitFailed {
			t.Fatalf("dir without a store: exit %d", code)
		}
	})

	t.Run("--out leaves the store as it is", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "copy.db")
		code, stdout, errOut := weftCmd(t, "compact", "--data-dir", dir, "--out", out)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got := fileSize(t, path); got != before {
			t.Fatalf("store size changed to %d", got)
		}
		if fileSize(t, out) >= before {
			t.Fatalf("copy is %d bytes, store %d", fileSize(t, out), before)
		}
		if !strings.Contains(stdout, out) {
			t.Errorf("output: %s", stdout)
		}
		checkLogs(t, out, kept, deleted)
		if code, _, errOut := weftCmd(t, "compact", "--data-dir", dir, "--out", out); code != exitFailed || !strings.Contains(errOut, "already exists") {
			t.Fatalf("--out onto an existing file: exit %d: %s", code, errOut)
		}
	})

	t.Run("in place with --backup", func(t *testing.T) {
		code, stdout, errOut := weftCmd(t, "compact", "--data-dir", dir, "--backup")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		t.Log(strings.TrimSpace(stdout))
		after := fileSize(t, path)
		if after*2 > before {
			t.Errorf("compacted from %d to %d bytes, want at least half off", before, after)
		}
		if got := fileSize(t, path+".bak"); got != before {
			t.Errorf("backup is %d bytes, want %d", got, before)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode())
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "*.compact-*"))
		if len(matches) != 0 {
			t.Errorf("temp files left: %v", matches)
		}
		checkLogs(t, path, kept, deleted)
		if code, _, errOut := weftCmd(t, "compact", "--data-dir", dir, "--backup"); code != exitFailed || !strings.Contains(errOut, "already exists") {
			t.Fatalf("second --backup: exit %d: %s", code, errOut)
		}
		if code, _, errOut := weftCmd(t, "compact", "--data-dir", dir); code != exitOK {
			t.Fatalf("second compaction: exit %d: %s", code, errOut)
		}
	})
}
