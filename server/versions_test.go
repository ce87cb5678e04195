package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// history is a recorded execution, as kept in testdata/.
type history struct {
	Execution persistence.Execution `json:"execution"`
	Events    []events.Event        `json:"events"`
	Steps     []persistence.Step    `json:"steps"`
}

const v1History = "testdata/versions/payment-v1.json"

func charge(method string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return method, nil }
}

// paymentV1 charges a card, then waits for "done".
func paymentV1(reg *workflows.Registry) {
	workflows.Register(reg, "payment", func(ctx workflows.Context, _ struct{}) (string, error) {
		if _, err := workflows.Task(ctx, "prepare", charge("ok")); err != nil {
			return "", err
		}
		method, err := workflows.Task(ctx, "charge-card", charge("card"))
		if err != nil {
			return "", err
		}
		_, err = workflows.WaitSignal[string](ctx, "done", 0)
		return method, err
	}, workflows.Version("1"))
}

// paymentV2 charges a wallet instead, for executions that reach the
// charge after the change.
func paymentV2(version string, compatible ...string) func(*workflows.Registry) {
	return func(reg *workflows.Registry) {
		workflows.Register(reg, "payment", func(ctx workflows.Context, _ struct{}) (string, error) {
			if _, err := workflows.Task(ctx, "prepare", charge("ok")); err != nil {
				return "", err
			}
			var method string
			var err error
			if workflows.Patched(ctx, "charge-with-wallet") {
				method, err = workflows.Task(ctx, "charge-wallet", charge("wallet"))
			} else {
				method, err = workflows.Task(ctx, "charge-card", charge("card"))
			}
			if err != nil {
				return "", err
			}
			_, err = workflows.WaitSignal[string](ctx, "done", 0)
			return method, err
		}, workflows.Version(version, compatible...))
	}
}

// TestRecordV1History rewrites testdata/versions/payment-v1.json from the
// v1 code. It runs only with WEFT_UPDATE_TESTDATA=1.
func TestRecordV1History(t *testing.T) {
	if os.Getenv("WEFT_UPDATE_TESTDATA") == "" {
		t.Skip("set WEFT_UPDATE_TESTDATA=1 to record the history again")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, paymentV1)
	c := dial(t, ts, adminToken)
	id := decode[execSnapshot](t, c.call("s", "workflow.start", map[string]any{"name": "payment", "subscribe": false}).Response).ExecutionID
	waitStatus(t, c, id, "waiting")
	ts.stop(t)
	store, err := persistence.Open(filepath.Join(dir, "weft.db"), persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	var h history
	h.Execution, _ = store.Execution(ctx, id)
	h.Events, _ = store.Events(ctx, id, 0, 0)
	steps, _ := store.Steps(ctx, id)
	for _, st := range steps {
		h.Steps = append(h.Steps, st)
	}
	raw, _ := json.MarshalIndent(h, "", "  ")
	if err := os.WriteFile(v1History, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadHistory writes the recorded v1 execution into a fresh data dir.
func loadHistory(t *testing.T) (dir, id string) {
	t.Helper()
	raw, err := os.ReadFile(v1History)
	if err != nil {
		t.Fatal(err)
	}
	var h history
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	store, err := persistence.Open(filepath.Join(dir, "weft.db"), persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	h.Execution.Workspace = "acme" // the test keys' workspace
	if _, err := store.CreateExecution(ctx, h.Execution, h.Events[0]); err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(ctx, persistence.Write{ExecutionID: h.Execution.ID, Events: h.Events[1:], Steps: h.Steps}); err != nil {
		t.Fatal(err)
	}
	return dir, h.Execution.ID
}

func TestPatchedWorkflowResumesOldHistoryOnTheOldPath(t *testing.T) {
	dir, oldID := loadHistory(t)
	ts := startServer(t, dir, paymentV2("2", "1"))
	c := dial(t, ts, adminToken)
	waitStatus(t, c, oldID, "waiting")
	c.call("s", "execution.signal", map[string]any{"execution_id": oldID, "name": "done", "payload": "x"})
	if snap := waitStatus(t, c, oldID, "completed"); string(snap.Result) != `"card"` {
		t.Fatalf("old execution took the new path: result %s", snap.Result)
	}
	// A new execution takes the new path.
	newID := decode[execSnapshot](t, c.call("n", "workflow.start", map[string]any{"name": "payment", "subscribe": false}).Response).ExecutionID
	waitStatus(t, c, newID, "waiting")
	c.call("s2", "execution.signal", map[string]any{"execution_id": newID, "name": "done", "payload": "x"})
	if snap := waitStatus(t, c, newID, "completed"); string(snap.Result) != `"wallet"` {
		t.Fatalf("new execution took the old path: result %s", snap.Result)
	}
}

func TestIncompatibleVersionFailsAtOnce(t *testing.T) {
	dir, oldID := loadHistory(t)
	ts := startServer(t, dir, paymentV2("3")) // not compatible with 1
	c := dial(t, ts, adminToken)
	snap := waitStatus(t, c, oldID, "failed")
	if snap.Error == nil || snap.Error.Code != "VERSION_MISMATCH" {
		t.Fatalf("error = %+v, want VERSION_MISMATCH", snap.Error)
	}
}
