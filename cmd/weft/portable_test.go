package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lineOf returns the export line of execution id in an export file.
func lineOf(t *testing.T, file []byte, id string) []byte {
	t.Helper()
	for _, line := range bytes.SplitAfter(file, []byte("\n")) {
		if bytes.Contains(line, []byte(`{"version":1,"execution":{"execution_id":"`+id+`"`)) {
			return line
		}
	}
	t.Fatalf("no record of %s in\n%s", id, file)
	return nil
}

// TestExportImportOverServerCLI: `weft export --server` writes what
// `weft export --data-dir` writes (real last_seq, pending signals), and
// `weft import --server` loads it into a running server, idempotently; the
// imported waiting approval resumes there and completes when signalled.
func TestExportImportOverServerCLI(t *testing.T) {
	src := t.TempDir()
	s := startOpsServer(t, src)
	mustRun(t, s, "start", "countdown", `{"steps":2,"delay_ms":1}`)
	waiting := startDetached(t, s, "approval", `{}`)
	waitFor(t, s, waiting, "waiting")
	mustRun(t, s, "signal", waiting, "note", `{"n":1}`) // nobody waits for it: it stays pending

	remote := filepath.Join(t.TempDir(), "remote.jsonl")
	mustRun(t, s, "export", "-o", remote)
	s.stop(t)
	local := filepath.Join(t.TempDir(), "local.jsonl")
	if code, _, errOut := weftCmd(t, "export", "--data-dir", src, "-o", local); code != exitOK {
		t.Fatalf("export --data-dir: exit %d: %s", code, errOut)
	}
	a, _ := os.ReadFile(remote)
	b, _ := os.ReadFile(local)
	if !bytes.Equal(a, b) {
		t.Fatalf("export over the server differs from the data dir's:\n%s\n---\n%s", a, b)
	}
	var rec struct {
		Execution struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"execution"`
		Events  []json.RawMessage `json:"events"`
		Signals []struct {
			Name string `json:"name"`
		} `json:"signals"`
	}
	if err := json.Unmarshal(lineOf(t, a, waiting), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Execution.LastSeq == 0 || rec.Execution.LastSeq != uint64(len(rec.Events)) || len(rec.Signals) != 1 || rec.Signals[0].Name != "note" {
		t.Errorf("exported approval: last_seq %d, %d events, signals %+v", rec.Execution.LastSeq, len(rec.Events), rec.Signals)
	}

	dst := startOpsServer(t, t.TempDir())
	if out := mustRun(t, dst, "import", remote); !strings.Contains(out, "imported 2 executions, skipped 0") {
		t.Errorf("import --server: %s", out)
	}
	if out := mustRun(t, dst, "import", remote); !strings.Contains(out, "imported 0 executions, skipped 2") {
		t.Errorf("second import --server: %s", out)
	}
	again := filepath.Join(t.TempDir(), "again.jsonl")
	mustRun(t, dst, "export", "-o", again)
	c, _ := os.ReadFile(again)
	for _, line := range bytes.SplitAfter(a, []byte("\n")) {
		if len(line) > 0 && !bytes.Contains(line, []byte(waiting)) && !bytes.Contains(c, line) {
			t.Errorf("export of the import lacks\n%s", line)
		}
	}
	mustRun(t, dst, "signal", waiting, "approve", `{"ok":true}`)
	if out := mustRun(t, dst, "tail", waiting); !strings.Contains(out, "execution_completed") {
		t.Errorf("imported approval did not complete:\n%s", out)
	}

	// A malformed line: exit 1, the server's INVALID_REQUEST naming it.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	_ = os.WriteFile(bad, append(lineOf(t, a, waiting), []byte("{oops\n")...), 0o600)
	if code, _, errOut := dst.weft(t, "import", bad); code != exitFailed || !strings.Contains(errOut, "INVALID_REQUEST") || !strings.Contains(errOut, "line 2") {
		t.Errorf("import of a malformed file: exit %d: %s", code, errOut)
	}
	// The same file into a data dir names the line too.
	if code, _, errOut := weftCmd(t, "import", bad, "--data-dir", t.TempDir()); code != exitFailed || !strings.Contains(errOut, "line 2") {
		t.Errorf("import --data-dir of a malformed file: exit %d: %s", code, errOut)
	}
}

// waitFor polls `weft executions show --json` until id has status want.
func waitFor(t *testing.T, s *opsServer, id, want string) {
	t.Helper()
	for range 200 {
		var snap struct {
			Status string `json:"status"`
		}
		if json.Unmarshal([]byte(mustRun(t, s, "executions", "show", id, "--json")), &snap) == nil && snap.Status == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never reached %s", id, want)
}
