package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// auditItems runs `weft audit --all --json` with extra flags and returns
// its records.
func auditItems(t *testing.T, s *opsServer, flags ...string) []auditRow {
	t.Helper()
	var page struct {
		Items      []auditRow `json:"items"`
		NextCursor string     `json:"next_cursor"`
	}
	out := mustRun(t, s, append([]string{"audit", "--all", "--json"}, flags...)...)
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("weft audit --json printed %q: %v", out, err)
	}
	if page.NextCursor != "" {
		t.Errorf("--all ended with a next cursor %q", page.NextCursor)
	}
	return page.Items
}

type auditRow struct {
	Time       time.Time `json:"time"`
	Identity   string    `json:"identity"`
	Workspace  string    `json:"workspace"`
	Transport  string    `json:"transport"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Outcome    string    `json:"outcome"`
	RemoteAddr string    `json:"remote_addr"`
}

// waitAudit polls until a record of action on target is listed (records
// are written without waiting for their commit) and returns it.
func waitAudit(t *testing.T, s *opsServer, action, target string) auditRow {
	t.Helper()
	for range 200 {
		for _, r := range auditItems(t, s, "--action", action) {
			if r.Target == target {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no audit record of %s on %s", action, target)
	return auditRow{}
}

// TestAuditCLI: the CLI's mutations over the socket (start, cancel,
// schedules) and over HTTP (import) are audited with transport "cli", and
// `weft audit` lists them with its filters, pages and cursor.
func TestAuditCLI(t *testing.T) {
	s := startOpsServer(t, t.TempDir())

	echo := startDetached(t, s, "echo", `{"a":1}`)
	long := startDetached(t, s, "countdown", `{"steps":100,"delay_ms":100}`)
	mustRun(t, s, "cancel", long, "--reason", "test")
	out := mustRun(t, s, "schedules", "create", "--every", "1h", "echo")
	sched := strings.Fields(out)[0]
	export := filepath.Join(t.TempDir(), "x.jsonl")
	mustRun(t, s, "export", "-o", export)
	mustRun(t, s, "import", export)

	for _, c := range []struct{ action, target string }{
		{"workflow.start", echo}, {"workflow.start", long}, {"execution.cancel", long},
		{"schedule.create", sched}, {"execution.import", ""},
	} {
		r := waitAudit(t, s, c.action, c.target)
		if r.Transport != "cli" || r.Identity != "olga" || r.Workspace != "acme" || r.Outcome != "ok" || r.RemoteAddr != "127.0.0.1" {
			t.Errorf("%s %s: record %+v, want transport cli by olga of acme, ok, from 127.0.0.1", c.action, c.target, r)
		}
	}

	// A refused CLI mutation is recorded with its code.
	if code, _, _ := s.weft(t, "cancel", "exec_nope"); code != exitFailed {
		t.Errorf("cancel of an unknown execution: exit %d, want 1", code)
	}
	if r := waitAudit(t, s, "execution.cancel", "exec_nope"); r.Outcome != "EXECUTION_NOT_FOUND" || r.Transport != "cli" {
		t.Errorf("refused cancel: %+v", r)
	}

	// Filters: action, identity, time bounds.
	all := auditItems(t, s)
	if len(all) < 6 {
		t.Fatalf("weft audit --all: %d records: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Errorf("not oldest first: %v then %v", all[i-1].Time, all[i].Time)
		}
	}
	if got := auditItems(t, s, "--action", "execution.cancel"); len(got) != 2 {
		t.Errorf("--action execution.cancel: %d records, want 2: %+v", len(got), got)
	}
	if got := auditItems(t, s, "--identity", "nobody"); len(got) != 0 {
		t.Errorf("--identity nobody: %+v", got)
	}
	if got := auditItems(t, s, "--since", "1h"); len(got) != len(all) {
		t.Errorf("--since 1h: %d records, want %d", len(got), len(all))
	}
	if got := auditItems(t, s, "--until", "1h"); len(got) != 0 {
		t.Errorf("--until 1h (an hour ago): %+v", got)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := auditItems(t, s, "--since", future); len(got) != 0 {
		t.Errorf("--since %s: %+v", future, got)
	}
	if got := auditItems(t, s, "--limit", "1"); len(got) != len(all) {
		t.Errorf("--all --limit 1: %d records, want %d", len(got), len(all))
	}

	// One page: a table and the next cursor, which --after follows.
	out = mustRun(t, s, "audit", "--limit", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[0], "REMOTE_ADDR") ||
		!strings.Contains(lines[1], "workflow.start") || !strings.Contains(lines[1], "cli") || !strings.HasPrefix(lines[3], "next cursor: ") {
		t.Fatalf("weft audit --limit 2 printed:\n%s", out)
	}
	cursor := strings.Fields(lines[3])[2]
	var page struct {
		Items []auditRow `json:"items"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "audit", "--after", cursor, "--limit", "1000", "--json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(all)-2 || page.Items[0] != all[2] {
		t.Errorf("--after the cursor: %d records, want %d starting with %+v", len(page.Items), len(all)-2, all[2])
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{
		{"audit", "--since", "yesterday"}, {"audit", "--until", "soon"}, {"audit", "--limit", "0"}, {"audit", "extra"},
	} {
		if code, _, _ := s.weft(t, args...); code != exitUsage {
			t.Errorf("weft %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	// A cursor the server does not know: exit 1, INVALID_REQUEST.
	if code, _, errOut := s.weft(t, "audit", "--after", "zz"); code != exitFailed || !strings.Contains(errOut, "INVALID_REQUEST") {
		t.Errorf("--after zz: exit %d: %s", code, errOut)
	}
}

// TestAuditCLINeedsScope: a token without audit:read is refused (exit 1).
func TestAuditCLINeedsScope(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	keys := filepath.Join(s.dir, "keys.json")
	if err := os.WriteFile(keys, []byte(`{"keys":[{"token":"tok-ops","identity":"olga","workspace":"acme","scopes":["admin"]},`+
		`{"token":"tok-ro","identity":"rita","workspace":"acme","scopes":["executions:read"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.ReloadKeys(); err != nil {
		t.Skipf("no key reload: %v", err)
	}
	code, _, errOut := weftCmd(t, "audit", "--server", "http://"+s.srv.Addr(), "--token", "tok-ro")
	if code != exitFailed || !strings.Contains(errOut, "FORBIDDEN") {
		t.Errorf("weft audit without audit:read: exit %d: %s", code, errOut)
	}
}
