package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// The guiding parts of the command line (issue 18): help, version, the
// local keys file, a refused connection, and commands that did nothing.

func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}} {
		code, out, errOut := weftCmd(t, args...)
		if code != exitOK || !strings.Contains(out, "USAGE") || !strings.Contains(out, "SUBCOMMANDS") ||
			!strings.Contains(out, "workflows") || !strings.Contains(out, "cancel") || !strings.Contains(out, "weft help COMMAND") {
			t.Errorf("weft %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
	}
	code, out, _ := weftCmd(t, "help", "cancel")
	if code != exitOK || !strings.Contains(out, "weft cancel ID") || !strings.Contains(out, "-reason") {
		t.Errorf("weft help cancel: exit %d\n%s", code, out)
	}
	code, out, _ = weftCmd(t, "help", "schedules", "ls")
	if code != exitOK || !strings.Contains(out, "-server") {
		t.Errorf("weft help schedules ls: exit %d\n%s", code, out)
	}
	code, _, errOut := weftCmd(t, "help", "nope")
	if code != exitUsage || !strings.Contains(errOut, "unknown command nope") {
		t.Errorf("weft help nope: exit %d\n%s", code, errOut)
	}
}

func TestUnknownCommandListsCommands(t *testing.T) {
	code, out, errOut := weftCmd(t, "frobnicate", "x")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if out != "" || !strings.Contains(errOut, "unknown command frobnicate") || !strings.Contains(errOut, "SUBCOMMANDS") || !strings.Contains(errOut, "serve") {
		t.Errorf("stdout: %q\nstderr: %s", out, errOut)
	}
}

func TestVersionFlagAndCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := weftCmd(t, args...)
		if code != exitOK || out != "weft "+version+"\n" {
			t.Errorf("weft %v: exit %d, printed %q", args, code, out)
		}
	}
}

func TestWorkflowsLsShowsParameters(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	out := mustRun(t, s, "workflows", "ls")
	for _, want := range []string{"countdown:", "counted:", "steps", "integer", "required", "0..10000", "delay_ms", "optional", "tag", "0..3600000"} {
		if !strings.Contains(out, want) {
			t.Errorf("workflows ls lacks %q:\n%s", want, out)
		}
	}
	var list []workflowListing
	if err := json.Unmarshal([]byte(mustRun(t, s, "workflows", "ls", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	var countdown *workflowListing
	for i := range list {
		if list[i].Name == "countdown" {
			countdown = &list[i]
		}
	}
	if countdown == nil || len(countdown.Parameters) == 0 {
		t.Fatalf("no countdown parameters in %+v", list)
	}
	p := countdown.Parameters[0]
	if p.Name != "steps" || p.Type != "integer" || !p.Required || p.Minimum == nil || *p.Minimum != 0 || p.Maximum == nil || *p.Maximum != 10000 {
		t.Errorf("first countdown parameter: %+v", p)
	}
}

func TestParamsOfReadsBounds(t *testing.T) {
	schema := `{"type":"object","required":["city"],"properties":{
		"city":{"type":"string","minLength":1,"maxLength":64,"description":"a city\nmore"},
		"units":{"type":"string","enum":["metric","imperial"]},
		"tags":{"type":"array","items":{"type":"string"},"maxItems":3},
		"ratio":{"type":["number","null"],"exclusiveMinimum":0}}}`
	got := paramsOf(json.RawMessage(schema))
	want := []struct{ name, typ, bounds, desc string }{
		{"city", "string", "length 1..64", "a city"},
		{"ratio", "number", "> 0", ""},
		{"tags", "[]string", "items <= 3", ""},
		{"units", "string", "one of metric, imperial", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Type != w.typ || g.Bounds != w.bounds || g.Description != w.desc || g.Required != (i == 0) {
			t.Errorf("param %d: got %+v, want %+v", i, g, w)
		}
	}
}

// TestLocalKeysFileToken runs client commands from the directory of a
// server's default data dir without a token: they use its admin token.
func TestLocalKeysFileToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "weft-data"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := startOpsServer(t, filepath.Join(dir, "weft-data"))
	t.Chdir(dir)
	t.Setenv("WEFT_SERVER", "http://"+s.srv.Addr())
	t.Setenv("WEFT_TOKEN", "")
	os.Unsetenv("WEFT_TOKEN")
	code, out, errOut := weftCmd(t, "executions", "ls")
	if code != exitOK {
		t.Fatalf("executions ls: exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(errOut, "using the first admin token of weft-data/keys.json"); n != 1 {
		t.Errorf("stderr says it %d times:\n%s", n, errOut)
	}
	if code, _, errOut := weftCmd(t, "workflows", "ls", "--token", "wrong"); code != exitFailed || strings.Contains(errOut, "keys.json") {
		t.Errorf("an explicit token: exit %d\n%s", code, errOut)
	}

	// Without the file, a missing token is a usage error naming both ways.
	t.Chdir(t.TempDir())
	code, _, errOut = weftCmd(t, "executions", "ls")
	if code != exitUsage || !strings.Contains(errOut, "WEFT_TOKEN") || !strings.Contains(errOut, "weft-data/keys.json") {
		t.Errorf("no token: exit %d\n%s", code, errOut)
	}
}

func TestRefusedConnectionNamesAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"executions", "ls", "--server", addr, "--token", "t"},
		{"schedules", "ls", "--server", addr, "--token", "t"},
		{"export", "--server", addr, "--token", "t", "-o", filepath.Join(t.TempDir(), "x.ndjson"), "exec_1"},
	} {
		code, _, errOut := weftCmd(t, args...)
		if code != exitFailed || !strings.Contains(errOut, "no weft server answers at "+addr) || !strings.Contains(errOut, "--server or WEFT_SERVER") {
			t.Errorf("weft %v: exit %d\n%s", args, code, errOut)
		}
	}
}

func TestCancelAndSignalOfEndedExecution(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	id := startDetached(t, s, "echo", `{"a":1}`)
	mustRun(t, s, "tail", id)
	code, out, errOut := s.weft(t, "cancel", id)
	if code != exitFailed || out != "" || !strings.Contains(errOut, "execution "+id+" has already ended (completed): nothing to cancel") {
		t.Errorf("cancel: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = s.weft(t, "signal", id, "approve", `{}`)
	if code != exitFailed || out != "" || !strings.Contains(errOut, "execution "+id+" has already ended (completed): signal \"approve\" not delivered") {
		t.Errorf("signal: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// A cancel that does something still prints the server's answer.
	long := startDetached(t, s, "countdown", `{"steps":100,"delay_ms":100}`)
	if out := mustRun(t, s, "cancel", long); !strings.Contains(out, `"status":"cancelling"`) {
		t.Errorf("cancel of a running countdown printed %s", out)
	}
	mustRun(t, s, "tail", long)
	if code, _, errOut := s.weft(t, "cancel", long); code != exitFailed || !strings.Contains(errOut, "has already ended (cancelled)") {
		t.Errorf("second cancel: exit %d\n%s", code, errOut)
	}
}

// TestWorkflowsStats: weft workflows stats NAME shows how the workflow's
// ended executions went; --json is the server's answer; a bad period is
// usage, an unknown workflow WORKFLOW_NOT_FOUND.
func TestWorkflowsStats(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	for range 2 {
		mustRun(t, s, "start", "echo", `{"a":1}`)
	}
	long := startDetached(t, s, "countdown", `{"steps":100,"delay_ms":100}`)
	mustRun(t, s, "cancel", long)
	mustRun(t, s, "tail", long)

	var st struct {
		Workflow string  `json:"workflow"`
		Period   string  `json:"period"`
		Runs     int     `json:"runs"`
		Rate     float64 `json:"success_rate"`
		Health   string  `json:"health"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := json.Unmarshal([]byte(mustRun(t, s, "workflows", "stats", "echo", "--period", "hour", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Runs == 2 || time.Now().After(deadline) {
			break
		}
	}
	if st.Workflow != "echo" || st.Period != "hour" || st.Runs != 2 || st.Rate != 1 || st.Health != "ok" {
		t.Errorf("stats --json: %+v", st)
	}
	out := mustRun(t, s, "workflows", "stats", "countdown")
	for _, want := range []string{"workflow        countdown", "period          day (", "runs            1 ended: 0 completed, 0 failed, 1 cancelled", "success rate    0.0%", "health          error"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats countdown lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := s.weft(t, "workflows", "stats", "echo", "--period", "month"); code != exitUsage || !strings.Contains(errOut, "want hour, day or week") {
		t.Errorf("--period month: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := s.weft(t, "workflows", "stats", "nope"); code != exitFailed || !strings.Contains(errOut, "WORKFLOW_NOT_FOUND") {
		t.Errorf("an unknown workflow: exit %d\n%s", code, errOut)
	}
}

// TestHelpOfEveryCommand asks `weft help` for every command and group in
// the tree: each prints its usage (a group without flags once panicked).
func TestHelpOfEveryCommand(t *testing.T) {
	var walk func(path []string, cmds []*ffcli.Command)
	walk = func(path []string, cmds []*ffcli.Command) {
		for _, c := range cmds {
			args := append(append([]string{"help"}, path...), c.Name)
			code, out, errOut := weftCmd(t, args...)
			if code != exitOK || !strings.Contains(out, "USAGE") {
				t.Errorf("weft %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
			}
			walk(append(path, c.Name), c.Subcommands)
		}
	}
	walk(nil, rootCommand(io.Discard, io.Discard).Subcommands)
}
