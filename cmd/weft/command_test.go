package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// leaves walks the command tree: every command without subcommands, with
// its path ("schedules create").
func leaves(c *ffcli.Command, path []string, fn func(path []string, c *ffcli.Command)) {
	if len(c.Subcommands) == 0 {
		fn(path, c)
		return
	}
	for _, sub := range c.Subcommands {
		leaves(sub, append(slices.Clone(path), sub.Name), fn)
	}
}

// parseLeaf parses a command line with a new command tree as run does,
// and returns the flag set of the leaf at path and the positional
// arguments ffcli hands it.
func parseLeaf(t *testing.T, path, args []string) (*flag.FlagSet, []string) {
	t.Helper()
	root := rootCommand(io.Discard, io.Discard)
	if err := root.Parse(flagsFirst(root, append(slices.Clone(path), args...))); err != nil {
		t.Fatalf("weft %s %q: %v", strings.Join(path, " "), args, err)
	}
	var fs *flag.FlagSet
	leaves(root, nil, func(p []string, c *ffcli.Command) {
		if slices.Equal(p, path) {
			fs = c.FlagSet
		}
	})
	return fs, fs.Args()
}

// TestEveryCommandTakesFlagsAnywhere: for each flag of each command, the
// flag parses before, between and after positional arguments, "--" makes
// what follows positional, and the positional arguments come out in order.
func TestEveryCommandTakesFlagsAnywhere(t *testing.T) {
	n := 0
	leaves(rootCommand(io.Discard, io.Discard), nil, func(path []string, leaf *ffcli.Command) {
		n++
		leaf.FlagSet.VisitAll(func(f *flag.Flag) {
			sample := f.DefValue
			if f.Value.Set(sample) != nil { // a flag with no default, like --metadata K=V
				sample = "key=value"
			}
			value := []string{sample}
			if isBoolFlag(f) {
				value = nil
			}
			flagArgs := append([]string{"--" + f.Name}, value...)
			for _, c := range []struct {
				name string
				args []string
				want []string
				set  bool
			}{
				{"after", append([]string{"a", "b"}, flagArgs...), []string{"a", "b"}, true},
				{"between", append(append([]string{"a"}, flagArgs...), "b"), []string{"a", "b"}, true},
				{"before", append(slices.Clone(flagArgs), "a", "b"), []string{"a", "b"}, true},
				{"equals", []string{"a", "-" + f.Name + "=" + sample, "b"}, []string{"a", "b"}, true},
				{"after --", []string{"a", "--", "--" + f.Name, "-"}, []string{"a", "--" + f.Name, "-"}, false},
			} {
				fs, pos := parseLeaf(t, path, c.args)
				set := false
				fs.Visit(func(g *flag.Flag) { set = set || g.Name == f.Name })
				if !slices.Equal(pos, c.want) || set != c.set {
					t.Errorf("weft %s %q (%s): positional %q, --%s set %v; want %q, set %v",
						strings.Join(path, " "), c.args, c.name, pos, f.Name, set, c.want, c.set)
				}
			}
		})
	})
	if n < 30 {
		t.Errorf("walked %d commands; the tree has more", n)
	}
}

// TestBadFlagIsUsage: an unknown flag, before or after the positional
// arguments, or a flag without its value, prints the command's usage and
// exits 2, for every command.
func TestBadFlagIsUsage(t *testing.T) {
	leaves(rootCommand(io.Discard, io.Discard), nil, func(path []string, c *ffcli.Command) {
		for _, tail := range [][]string{{"--no-such-flag"}, {"x", "--no-such-flag"}, {"x", "y", "--no-such-flag=1"}} {
			args := append(slices.Clone(path), tail...)
			code, out, errOut := weftCmd(t, args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") ||
				!strings.Contains(errOut, "USAGE") || !strings.Contains(errOut, c.ShortUsage) {
				t.Errorf("weft %s: exit %d, want 2 with the usage\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
			}
		}
	})
	// A value flag at the very end, without its value.
	code, _, errOut := weftCmd(t, "cancel", "exec_x", "--reason")
	if code != exitUsage || !strings.Contains(errOut, "flag needs an argument: -reason") || !strings.Contains(errOut, "weft cancel ID") {
		t.Errorf("cancel ID --reason: exit %d\n%s", code, errOut)
	}
	// Too many or too few positional arguments.
	for _, args := range [][]string{{"cancel"}, {"cancel", "a", "b"}, {"signal", "a"}, {"workflows", "ls", "x"}, {"schedules", "create", "--every", "1h"}} {
		if code, _, errOut := weftCmd(t, args...); code != exitUsage || !strings.Contains(errOut, "usage: weft "+args[0]) {
			t.Errorf("weft %s: exit %d, want 2\n%s", strings.Join(args, " "), code, errOut)
		}
	}
	// -h is help, not an error.
	if code, _, errOut := weftCmd(t, "executions", "show", "x", "-h"); code != exitOK || !strings.Contains(errOut, "weft executions show ID") {
		t.Errorf("executions show x -h: exit %d\n%s", code, errOut)
	}
}

// TestFlagsAfterPositionals runs commands the way README writes them, flags
// last, against a real server.
func TestFlagsAfterPositionals(t *testing.T) {
	s := startOpsServer(t, t.TempDir())

	// The command line of the issue: --params after the workflow name.
	out := mustRun(t, s, "schedules", "create", "--every", "1h", "nap", "--params", `{"seconds":1}`, "--overlap", "allow")
	id := strings.Fields(out)[0]
	var sched struct {
		Workflow   string          `json:"workflow"`
		Parameters json.RawMessage `json:"parameters"`
		Overlap    string          `json:"overlap"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "schedules", "get", id, "--json")), &sched); err != nil {
		t.Fatal(err)
	}
	var params bytes.Buffer
	_ = json.Compact(&params, sched.Parameters)
	if sched.Workflow != "nap" || params.String() != `{"seconds":1}` || sched.Overlap != "allow" {
		t.Errorf("schedule %+v, parameters %s", sched, sched.Parameters)
	}
	if out := mustRun(t, s, "schedules", "pause", id, "--json"); !strings.Contains(out, `"paused": true`) {
		t.Errorf("schedules pause ID --json printed %s", out)
	}

	// start NAME JSON --detach; tail ID --json --after-seq N; cancel ID --reason R.
	exec := strings.TrimSpace(mustRun(t, s, "start", "countdown", `{"steps":100,"delay_ms":100}`, "--detach", "--idempotency-key", "k1"))
	if again := strings.TrimSpace(mustRun(t, s, "start", "countdown", `{"steps":100,"delay_ms":100}`, "--idempotency-key", "k1", "--detach")); again != exec {
		t.Errorf("the same --idempotency-key after the parameters started %s, then %s", exec, again)
	}
	// --params is the argument's other spelling (as in schedules create).
	if again := strings.TrimSpace(mustRun(t, s, "start", "countdown", "--idempotency-key", "k1", "--params", `{"delay_ms":100,"steps":100}`, "--detach")); again != exec {
		t.Errorf("--params with the same parameters and key started %s, not %s", again, exec)
	}
	t.Setenv("WEFT_REASON", "from the environment")
	mustRun(t, s, "cancel", exec, "--reason", "from the command line")
	out = mustRun(t, s, "tail", exec, "--json", "--after-seq", "1")
	if strings.Contains(out, `"seq":1,`) || !strings.Contains(out, `"reason":"from the command line"`) {
		t.Errorf("tail ID --json --after-seq 1:\n%s", out)
	}
	// A flag name after "--" is an argument: here an execution id.
	code, out, errOut := s.weft(t, "executions", "show", "--", "--json")
	if code != exitFailed || strings.HasPrefix(out, "{") || !strings.Contains(errOut, "--json") {
		t.Errorf("executions show -- --json: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// artifacts put FILE --name N --json; a file named like a flag after "--".
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(filepath.Join(dir, "-data.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := s.weft(t, "artifacts", "put", "--", "-data.txt", "--name"); code != exitUsage || !strings.Contains(errOut, "usage: weft artifacts put") {
		t.Errorf("artifacts put -- -data.txt --name (two files): exit %d\n%s", code, errOut)
	}
	var meta struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "artifacts", "put", "--json", "--name", "greeting", "--", "-data.txt")), &meta); err != nil || meta.Name != "greeting" || meta.Size != 5 {
		t.Errorf("artifacts put --json --name greeting -- -data.txt: %+v, %v", meta, err)
	}
}

// TestFlagsAreParsedBeforeExec: a wrapper of a leaf's Exec (serve's
// tracing reads --otlp-endpoint this way) sees the flags set, even those
// given after the positional arguments.
func TestFlagsAreParsedBeforeExec(t *testing.T) {
	fs := newFlags("weft probe", io.Discard)
	v := fs.String("v", "", "a flag")
	var seen string
	var got []string
	probe := newLeaf(fs, leaf{name: "probe", usage: "weft probe ARG", args: exactly(1),
		run: func(_ context.Context, args []string) error { got = args; return nil }})
	inner := probe.Exec
	probe.Exec = func(ctx context.Context, args []string) error {
		seen = *v
		return inner(ctx, args)
	}
	root := &ffcli.Command{Name: "weft", FlagSet: newFlags("weft", io.Discard), Subcommands: []*ffcli.Command{probe}}
	if err := root.Parse(flagsFirst(root, []string{"probe", "arg", "--v", "set"})); err != nil {
		t.Fatal(err)
	}
	if err := root.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seen != "set" || !slices.Equal(got, []string{"arg"}) {
		t.Errorf("the wrapper saw --v %q, the leaf got %q", seen, got)
	}
}

func TestStartParams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rest    []string
		flag    string
		want    string
		wantErr bool
	}{
		{"neither", nil, "", "{}", false},
		{"argument", []string{`{"a":1}`}, "", `{"a":1}`, false},
		{"flag", nil, `{"b":2}`, `{"b":2}`, false},
		{"both", []string{`{"a":1}`}, `{"b":2}`, "", true},
		{"bad argument", []string{"{not json"}, "", "", true},
		{"bad flag", nil, "{not json", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startParams(tc.rest, tc.flag)
			if (err != nil) != tc.wantErr || (err == nil && string(got) != tc.want) {
				t.Errorf("startParams(%q, %q) = %s, %v; want %s (error %v)", tc.rest, tc.flag, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
