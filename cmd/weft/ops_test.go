package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// The operator commands run in-process (run()) against a real weft server
// on 127.0.0.1:0, as an operator's shell would run them.

const opsKeys = `{"keys":[{"token":"tok-ops","identity":"olga","workspace":"acme","scopes":["admin"]}]}`

// stepCalls counts how often each step of the "counted" workflow ran.
var stepCalls = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func countStep(name string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		stepCalls.Lock()
		defer stepCalls.Unlock()
		stepCalls.n[name]++
		return name + " done", nil
	}
}

func resetCalls() {
	stepCalls.Lock()
	defer stepCalls.Unlock()
	clear(stepCalls.n)
}

func calls(name string) int {
	stepCalls.Lock()
	defer stepCalls.Unlock()
	return stepCalls.n[name]
}

// counted runs three tasks and records how often each ran.
func counted(ctx workflows.Context, in struct {
	Tag string `json:"tag"`
}) ([]string, error) {
	var out []string
	for _, name := range []string{"first", "second", "third"} {
		v, err := workflows.Task(ctx, name+"-"+in.Tag, countStep(name+"-"+in.Tag))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

type opsServer struct {
	srv *server.Server
	dir string
}

func startOpsServer(t *testing.T, dir string) *opsServer {
	t.Helper()
	return startOpsServerWith(t, dir, nil)
}

// startOpsServerWith is startOpsServer with edit applied to the config.
func startOpsServerWith(t *testing.T, dir string, edit func(*server.Config)) *opsServer {
	t.Helper()
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, []byte(opsKeys), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := workflows.NewRegistry()
	reference.Register(reg)
	workflows.Register(reg, "counted", counted)
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, KeysFile: keys, Registry: reg, LLM: reference.ScriptedLLM(), NoSync: true}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &opsServer{srv: srv, dir: dir}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *opsServer) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// weft runs one command line against s and returns its exit code and
// output.
func (s *opsServer) weft(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("WEFT_SERVER", "http://"+s.srv.Addr())
	t.Setenv("WEFT_TOKEN", "tok-ops")
	return weftCmd(t, args...)
}

func weftCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func mustRun(t *testing.T, s *opsServer, args ...string) string {
	t.Helper()
	code, out, errOut := s.weft(t, args...)
	if code != exitOK {
		t.Fatalf("weft %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// startDetached starts a workflow and returns its execution id.
func startDetached(t *testing.T, s *opsServer, name, params string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, s, "start", name, params, "--detach"))
}

func TestOperatorCommands(t *testing.T) {
	s := startOpsServer(t, t.TempDir())

	out := mustRun(t, s, "start", "echo", `{"a":1}`)
	if !strings.Contains(out, "execution_completed") || !strings.Contains(out, `{"result":{"a":1}`) {
		t.Errorf("start echo printed:\n%s", out)
	}
	if code, _, _ := s.weft(t, "start", "countdown", `{"steps":-1}`); code != exitFailed {
		t.Errorf("start of an invalid countdown: exit %d, want 1", code)
	}
	if code, _, _ := s.weft(t, "start"); code != exitUsage {
		t.Errorf("start without a name: exit %d, want 2", code)
	}
	if code, _, _ := s.weft(t, "start", "echo", "{not json"); code != exitUsage {
		t.Errorf("start with bad JSON: exit %d, want 2", code)
	}
	if code, _, errOut := s.weft(t, "start", "echo", "{}", "--token", "wrong"); code != exitFailed || !strings.Contains(errOut, "UNAUTHENTICATED") {
		t.Errorf("wrong token: exit %d, %s", code, errOut)
	}

	// A stream with LLM deltas reads as text.
	out = mustRun(t, s, "start", "search-candidates", `{"user_query":"go engineer","organization_id":"org_1"}`)
	if !strings.Contains(out, "Best matches for") || !strings.Contains(out, "tool_end") {
		t.Errorf("search-candidates printed:\n%s", out)
	}

	// signal resumes an approval; tail follows it to the end.
	approval := startDetached(t, s, "approval", `{}`)
	if out := mustRun(t, s, "signal", approval, "approve", `{"by":"olga"}`); !strings.Contains(out, `"delivered":true`) {
		t.Errorf("signal printed %s", out)
	}
	if out := mustRun(t, s, "tail", approval); !strings.Contains(out, `execution_completed  {"result":{"by":"olga"}`) {
		t.Errorf("tail printed:\n%s", out)
	}

	// cancel ends a long countdown.
	long := startDetached(t, s, "countdown", `{"steps":100,"delay_ms":100}`)
	mustRun(t, s, "cancel", long, "--reason", "test")
	if out := mustRun(t, s, "tail", long, "--json"); !strings.Contains(out, `"type":"execution_cancelled"`) {
		t.Errorf("tail of a cancelled countdown:\n%s", out)
	}

	// ls filters and lists as JSON.
	var list struct {
		Items []struct {
			ExecutionID string `json:"execution_id"`
			Status      string `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "executions", "ls", "--status", "cancelled", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].ExecutionID != long {
		t.Errorf("ls --status cancelled = %+v, want %s", list.Items, long)
	}
	if out := mustRun(t, s, "executions", "ls", "--workflow", "approval", "--since", "1h"); !strings.Contains(out, approval) || strings.Contains(out, long) {
		t.Errorf("ls --workflow approval:\n%s", out)
	}
	if code, _, _ := s.weft(t, "executions", "ls", "--status", "bogus"); code != exitUsage {
		t.Errorf("ls --status bogus: exit %d, want 2", code)
	}
	if out := mustRun(t, s, "executions", "show", approval); !strings.Contains(out, "signal  approve") || !strings.Contains(out, "status     completed") {
		t.Errorf("show:\n%s", out)
	}

	// replay re-sends the history marked as replayed, ending with the
	// terminal event.
	out = mustRun(t, s, "replay", approval, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[len(lines)-1], `"type":"execution_completed"`) || strings.Count(out, `"replay":true`) != len(lines) {
		t.Errorf("replay --json:\n%s", out)
	}
	if code, _, _ := s.weft(t, "replay", approval, "--speed", "2"); code != exitUsage {
		t.Errorf("replay --speed 2: exit %d, want 2", code)
	}

	// replay-check over the server: the reference code fits what it ran.
	if out := mustRun(t, s, "replay-check"); strings.Contains(out, "diverged") || !strings.Contains(out, approval) {
		t.Errorf("replay-check:\n%s", out)
	}
}

func TestRerunFromStepReusesEarlierSteps(t *testing.T) {
	resetCalls() // the counters are per process: -count=N runs this again
	s := startOpsServer(t, t.TempDir())
	orig := startDetached(t, s, "counted", `{"tag":"r"}`)
	mustRun(t, s, "tail", orig)
	for _, step := range []string{"first-r", "second-r", "third-r"} {
		if n := calls(step); n != 1 {
			t.Fatalf("%s ran %d times in the original, want 1", step, n)
		}
	}
	out := mustRun(t, s, "rerun", orig, "--from-step", "3")
	if strings.Contains(out, `"name":"first-r"`) || strings.Contains(out, `"name":"second-r"`) || !strings.Contains(out, `"name":"third-r"`) {
		t.Errorf("the rerun emitted events of reused steps, or none of step 3:\n%s", out)
	}
	want := map[string]int{"first-r": 1, "second-r": 1, "third-r": 2}
	for step, n := range want {
		if got := calls(step); got != n {
			t.Errorf("%s ran %d times, want %d", step, got, n)
		}
	}
	var list struct {
		Items []struct {
			ExecutionID string          `json:"execution_id"`
			Metadata    json.RawMessage `json:"metadata"`
			Result      json.RawMessage `json:"result"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "executions", "ls", "--workflow", "counted", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("want the original and the rerun, got %+v", list.Items)
	}
	rerun := list.Items[0] // newest first
	var meta map[string]any
	_ = json.Unmarshal(rerun.Metadata, &meta)
	if meta["rerun_of"] != orig || meta["from_step"] != float64(3) {
		t.Errorf("rerun metadata %s, want rerun_of %s and from_step 3", rerun.Metadata, orig)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, rerun.Result)
	if compact.String() != `["first-r done","second-r done","third-r done"]` {
		t.Errorf("rerun result %s", rerun.Result)
	}
	if code, _, _ := s.weft(t, "rerun", orig); code != exitUsage {
		t.Errorf("rerun without --from-step: exit %d, want 2", code)
	}
}

func TestExportImportKeepsHistoriesIdentical(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	s := startOpsServer(t, src)
	mustRun(t, s, "start", "search-candidates", `{"user_query":"rust","organization_id":"o"}`)
	mustRun(t, s, "start", "countdown", `{"steps":3,"delay_ms":1}`)
	waiting := startDetached(t, s, "approval", `{}`)

	// While the server runs, its data dir is locked: the error says so.
	if code, _, errOut := weftCmd(t, "executions", "ls", "--data-dir", src); code != exitFailed || !strings.Contains(errOut, "is a server still running on it?") {
		t.Errorf("ls --data-dir of a running server: exit %d, %s", code, errOut)
	}
	// An export over the socket holds the same events and steps.
	remote := filepath.Join(t.TempDir(), "remote.jsonl")
	mustRun(t, s, "export", "-o", remote)
	s.stop(t)

	file := filepath.Join(t.TempDir(), "export.jsonl")
	if code, _, errOut := weftCmd(t, "export", "--data-dir", src, "-o", file); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	if code, out, errOut := weftCmd(t, "import", file, "--data-dir", dst); code != exitOK || !strings.Contains(out, "imported 3 executions") {
		t.Fatalf("import: exit %d: %s %s", code, out, errOut)
	}
	if _, out, _ := weftCmd(t, "import", file, "--data-dir", dst); !strings.Contains(out, "imported 0 executions, skipped 3") {
		t.Errorf("second import: %s", out)
	}
	again := filepath.Join(t.TempDir(), "again.jsonl")
	if code, _, errOut := weftCmd(t, "export", "--data-dir", dst, "-o", again); code != exitOK {
		t.Fatalf("export of the import: exit %d: %s", code, errOut)
	}
	a, _ := os.ReadFile(file)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Errorf("export after import differs:\n%s\n---\n%s", a, b)
	}
	if n := bytes.Count(a, []byte("\n")); n != 3 {
		t.Errorf("export holds %d lines, want 3", n)
	}
	// Event logs byte for byte, also through the socket export.
	events := func(path string) map[string][]string {
		out := map[string][]string{}
		raw, _ := os.ReadFile(path)
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			var rec struct {
				Execution struct {
					ID string `json:"execution_id"`
				} `json:"execution"`
				Events []json.RawMessage `json:"events"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			for _, e := range rec.Events {
				out[rec.Execution.ID] = append(out[rec.Execution.ID], string(e))
			}
		}
		return out
	}
	local, viaSocket := events(again), events(remote)
	for id, evs := range local {
		if strings.Join(evs, "\n") != strings.Join(viaSocket[id], "\n") {
			t.Errorf("%s: events exported over the socket differ from the store's", id)
		}
	}

	// The imported data dir serves: the waiting approval resumes there.
	s2 := startOpsServer(t, dst)
	mustRun(t, s2, "signal", waiting, "approve", `{"ok":true}`)
	if out := mustRun(t, s2, "tail", waiting); !strings.Contains(out, "execution_completed") {
		t.Errorf("imported approval did not complete:\n%s", out)
	}
	if out := mustRun(t, s2, "replay-check"); strings.Contains(out, "diverged") {
		t.Errorf("replay-check of the imported dir:\n%s", out)
	}
}

// TestReplayCheckGolden checks the table for the recorded reference
// histories (stable: ids and steps come from the file).
func TestReplayCheckGolden(t *testing.T) {
	code, out, errOut := weftCmd(t, "replay-check", "--file", "../../workflows/replay/testdata/reference.jsonl")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden := "testdata/replay-check.golden"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		_ = os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if out != string(want) {
		t.Errorf("replay-check output:\n%s\nwant:\n%s", out, want)
	}
}
