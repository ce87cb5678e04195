package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/weft-run/weft/load"
	"github.com/weft-run/weft/server"
)

// benchRate is the per-connection rate of the server the bench tests
// load: echo executions finish in about a millisecond, so an unpaced
// socket would start hundreds a second and be refused RATE_LIMITED.
const benchRate = 20

// TestBenchWorkflowsUnderServerRate: against a server (not --local) the
// bench reads the server's rate from server.info and keeps each socket
// under it (no error), tags every execution it starts with its run id,
// and `weft executions rm --metadata` removes exactly those.
func TestBenchWorkflowsUnderServerRate(t *testing.T) {
	s := startOpsServerWith(t, t.TempDir(), func(cfg *server.Config) { cfg.Socket.MessagesPerSecond = benchRate })
	other := startDetached(t, s, "echo", `{"not":"bench"}`)

	code, out, errOut := s.weft(t, "bench", "workflows", "--clients", "2", "--workflow", "echo", "--duration", "1500ms", "--json")
	if code != exitOK {
		t.Fatalf("bench: exit %d\n%s\n%s", code, out, errOut)
	}
	var report load.Report
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	runID, _ := report.Params[benchTag].(string)
	n := int(report.Figures["executions"])
	// Each socket is held to 80% of 20/s (a start every 62.5 ms): at
	// most 25 starts per socket in 1.5 s.
	if report.Errors != 0 || n == 0 || n > 2*25 || !strings.HasPrefix(runID, "bench-") {
		t.Fatalf("report: %d executions, %d errors %v, run %q", n, report.Errors, report.ErrorKinds, runID)
	}
	if !strings.Contains(errOut, "weft executions rm --metadata "+benchTag+"="+runID) {
		t.Errorf("stderr does not say how to remove the run's executions:\n%s", errOut)
	}

	var list struct {
		Items []struct {
			ExecutionID string          `json:"execution_id"`
			Metadata    json.RawMessage `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "executions", "ls", "--metadata", benchTag+"="+runID, "--limit", "0", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != n {
		t.Fatalf("ls --metadata %s=%s: %d executions, the bench started %d", benchTag, runID, len(list.Items), n)
	}

	out = mustRun(t, s, "executions", "rm", "--metadata", benchTag+"="+runID)
	if got := strings.Count(out, "deleted exec_"); got != n {
		t.Errorf("rm --metadata deleted %d, want %d:\n%s", got, n, out)
	}
	if out := mustRun(t, s, "executions", "ls", "--metadata", benchTag+"="+runID, "--json"); !strings.Contains(out, `"items": []`) {
		t.Errorf("after rm: %s", out)
	}
	if out := mustRun(t, s, "executions", "show", other); !strings.Contains(out, "status     completed") {
		t.Errorf("an execution of no bench run was touched:\n%s", out)
	}
}

// TestBenchReportsErrors: a run with errors exits 1 and counts them by
// kind, in the report and on stderr (also with --json).
func TestBenchReportsErrors(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	for _, json := range []bool{false, true} {
		args := []string{"bench", "workflows", "--clients", "3", "--workflow", "no-such-workflow", "--duration", "1s"}
		if json {
			args = append(args, "--json")
		}
		code, out, errOut := s.weft(t, args...)
		if code != exitFailed || !strings.Contains(errOut, "bench workflows: 3 errors: 3 WORKFLOW_NOT_FOUND") {
			t.Errorf("weft %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		}
		if json && !strings.Contains(out, `"WORKFLOW_NOT_FOUND": 3`) || !json && !regexp.MustCompile(`WORKFLOW_NOT_FOUND +3`).MatchString(out) {
			t.Errorf("the report does not count the errors:\n%s", out)
		}
	}
}

// TestBenchBroadcastOverServerRate: a broadcast rate one socket may not
// send at is refused before anything is sent (usage, exit 2), naming the
// way out.
func TestBenchBroadcastOverServerRate(t *testing.T) {
	s := startOpsServerWith(t, t.TempDir(), func(cfg *server.Config) { cfg.Socket.MessagesPerSecond = benchRate })
	code, _, errOut := s.weft(t, "bench", "broadcast", "--members", "2", "--broadcasts", "5", "--rate", "50")
	if code != exitUsage || !strings.Contains(errOut, "over the server's rate limit") || !strings.Contains(errOut, "--local") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if code, out, errOut := s.weft(t, "bench", "broadcast", "--members", "2", "--broadcasts", "3", "--rate", "10"); code != exitOK {
		t.Errorf("broadcast at 10/s under 20/s: exit %d\n%s\n%s", code, out, errOut)
	}
}
