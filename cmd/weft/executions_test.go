package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
)

func TestShowCancelReason(t *testing.T) {
	cancelled := actors.Snapshot{ExecutionID: "exec_1", Status: weft.StatusCancelled, Parameters: json.RawMessage(`{}`)}
	withError := func(code, msg string) shownSnapshot {
		s := shownSnapshot{Snapshot: cancelled}
		s.Error = &events.ErrorInfo{Code: code, Message: msg}
		return s
	}
	for _, c := range []struct {
		name string
		snap shownSnapshot
		want string
	}{
		{"reason field", shownSnapshot{Snapshot: cancelled, Reason: "not needed"}, "reason     not needed\n"},
		{"error message", withError("CANCELLED", "not needed"), "reason     not needed\n"},
		{"other code", withError("TIMEOUT", "took too long"), "reason     took too long (TIMEOUT)\n"},
		{"message only", withError("", "operator said so"), "reason     operator said so\n"},
		{"none", shownSnapshot{Snapshot: cancelled}, "reason     - (none given)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			printSnapshot(&b, c.snap)
			if !strings.Contains(b.String(), c.want) || strings.Contains(b.String(), "error  ") {
				t.Errorf("printed:\n%s\nwant a line %q", b.String(), c.want)
			}
		})
	}
	failed := shownSnapshot{Snapshot: actors.Snapshot{Status: weft.StatusFailed, Error: &events.ErrorInfo{Code: "PANIC", Message: "boom"}}}
	var b bytes.Buffer
	printSnapshot(&b, failed)
	if !strings.Contains(b.String(), "error      PANIC boom\n") || strings.Contains(b.String(), "reason") {
		t.Errorf("a failed execution printed:\n%s", b.String())
	}
}

// TestShowCancelledExecution: show prints the reason of a cancel, as the
// server's snapshot has it.
func TestShowCancelledExecution(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	id := startDetached(t, s, "countdown", `{"steps":100,"delay_ms":100}`)
	mustRun(t, s, "cancel", id, "--reason", "not needed")
	mustRun(t, s, "tail", id)
	var snap shownSnapshot
	if err := json.Unmarshal([]byte(mustRun(t, s, "executions", "show", id, "--json")), &snap); err != nil {
		t.Fatal(err)
	}
	want := "reason     " + cancelReason(snap) + "\n"
	if snap.Reason == "" && snap.Error == nil {
		t.Logf("the server's snapshot of a cancelled execution carries no reason: show says %q", want)
	} else if !strings.Contains(want, "not needed") {
		t.Errorf("the snapshot carries %q / %+v, not the reason given", snap.Reason, snap.Error)
	}
	if out := mustRun(t, s, "executions", "show", id); !strings.Contains(out, "status     cancelled\n") || !strings.Contains(out, want) {
		t.Errorf("show:\n%s\nwant %q", out, want)
	}
}

// TestReplayCheckUnknownWorkflow: an execution of a workflow this binary
// lacks is "unknown", not "diverged", and the error says how to check
// one's own workflows.
func TestReplayCheckUnknownWorkflow(t *testing.T) {
	s := startOpsServer(t, t.TempDir()) // also runs "counted", which the weft binary does not have
	counted := startDetached(t, s, "counted", `{"tag":"u"}`)
	mustRun(t, s, "tail", counted)
	echo := startDetached(t, s, "echo", `{"a":1}`)
	mustRun(t, s, "tail", echo)

	code, out, errOut := s.weft(t, "replay-check")
	if code != exitFailed || strings.Contains(out, "diverged") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{counted + "  counted", "unknown  unknown workflow counted: this binary does not have it", echo + "  echo"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"1 of 2 executions not checked: unknown workflow counted: this binary does not have it",
		"workflows/replay", `README "Replay check"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	var res struct {
		Results []struct {
			ExecutionID string `json:"execution_id"`
			Verdict     string `json:"verdict"`
		} `json:"results"`
		Diverged, Unknown int
	}
	_, out, _ = s.weft(t, "replay-check", "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Unknown != 1 || res.Diverged != 0 {
		t.Errorf("--json: %+v %v\n%s", res, err, out)
	}
}
