//go:build unix

package weft_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weft-run/weft/internal/logbuf"
)

// TestREADME runs every fenced code block of README.md and of each
// examples/*/README.md, in order, against one real weft server, so that
// what the READMEs show cannot drift from what weft does:
//
//   - sh: each command runs in one bash per block, in a directory that
//     looks like the repository's root (its entries symlinked) whose
//     weft-data is the test server's; `weft` is the binary built from this
//     tree. The comment lines right under a command (no blank line
//     between) are its output: each must show, in order, where "..."
//     stands for any text and a line of "..." for any lines. A command
//     must exit 0, and an {"error":...} line it prints must be one the
//     README shows.
//   - json: frames sent on one socket (authenticated as README's websocat
//     line does); each is read to its last answer and none may be an error.
//     The last frame may close the socket (connection.close of one's own).
//   - js: run by Node with `token` defined, imports of './weft.js' and 'ws'
//     pointed at clients/js.
//   - go: must be a region of readme_snippets_test.go, which compiles.
//   - <!-- output --> before a block: the output of the block above.
//   - <!-- not-run: reason --> before a block: not run (a long-running
//     server, a benchmark, a tool weft does not ship). A block of any
//     other kind, unmarked, fails this test.
//
// What stands for what: 127.0.0.1:8080 and localhost:8080 are rewritten
// to the test server's address, which WEFT_SERVER also holds; $TOKEN is
// the server's admin token (as the HTTP API block sets it); prefix_...
// (exec_..., art_..., sched_..., ws_...) is the first id of that prefix
// printed by the latest command that printed one (a listing prints the
// newest first); report.csv is a small CSV file. Blocks run in README
// order, so each sees what the ones above it did.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs README's examples against a built weft binary; skipped with -short")
	}
	blocks := readmeBlocks(t)
	snippets := readSnippets(t)
	env := startReadmeEnv(t)
	r := &readmeRunner{env: env, ids: ids{}, snippets: snippets, used: map[string]bool{}}
	for i, b := range blocks {
		switch {
		case b.notRun != "":
			t.Logf("%s: not run: %s", b, b.notRun)
			continue
		case b.output:
			continue // checked with the block above
		}
		var want []string
		if i+1 < len(blocks) && blocks[i+1].output {
			want = strings.Split(strings.TrimSuffix(blocks[i+1].text, "\n"), "\n")
		}
		t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) { r.run(t, b, want) })
	}
	for name := range snippets {
		if !r.used[name] {
			t.Errorf("readme_snippets_test.go: region %s is shown by no README block: remove it, or show it", name)
		}
	}
}

// readmeBlocks parses README.md and examples/*/README.md.
func readmeBlocks(t *testing.T) []block {
	t.Helper()
	files, err := filepath.Glob("examples/*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var all []block
	for _, f := range append([]string{"README.md"}, files...) {
		md, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := parseBlocks(f, string(md))
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range bs {
			if b.output && (i == 0 || bs[i-1].notRun != "" || bs[i-1].output) {
				t.Fatalf("%s: <!-- output --> must follow a block that runs", b)
			}
		}
		all = append(all, bs...)
	}
	return all
}

func readSnippets(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("readme_snippets_test.go")
	if err != nil {
		t.Fatal(err)
	}
	r, err := regions(string(src))
	if err != nil {
		t.Fatalf("readme_snippets_test.go: %v", err)
	}
	return r
}

// readmeEnv is where the blocks run: the weft binary, the server, the
// working directory and the environment.
type readmeEnv struct {
	root  string // the repository
	dir   string // the working directory: the repository's entries, the server's weft-data
	addr  string // the server's host:port
	token string // its admin token
	env   []string
}

func startReadmeEnv(t *testing.T) *readmeEnv {
	t.Helper()
	for _, tool := range []string{"bash", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README test needs %s", tool)
		}
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// weft for the blocks' PATH; the examples' `go run` then finds their
	// packages compiled and only links.
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./cmd/weft", "./examples/goclient")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	e := &readmeEnv{root: root, dir: t.TempDir()}
	e.mirrorRepo(t)
	// The file README's Artifacts block uploads, as a reader would have one.
	if err := os.WriteFile(filepath.Join(e.dir, "report.csv"), []byte("region,total\nnorth,42\nsouth,7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.serve(t, filepath.Join(bin, "weft"))
	e.env = append(withoutWeftVars(os.Environ()),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"WEFT_SERVER=http://"+e.addr,
		"TOKEN="+e.token,
		"NO_COLOR=1",
	)
	return e
}

// mirrorRepo makes the working directory look like the repository's root,
// where README's commands are typed: each entry symlinked, but no .git,
// bin or weft-data (the test server makes its own).
func (e *readmeEnv) mirrorRepo(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(e.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		switch ent.Name() {
		case ".git", "bin", "weft-data":
			continue
		}
		if err := os.Symlink(filepath.Join(e.root, ent.Name()), filepath.Join(e.dir, ent.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// serve starts `weft serve` on 127.0.0.1:0 in the working directory (so
// its keys are in ./weft-data/keys.json, as after `make run`) and reads
// its address from the log.
func (e *readmeEnv) serve(t *testing.T, weft string) {
	t.Helper()
	var logs logbuf.Buffer
	cmd := exec.Command(weft, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Dir = e.dir
	cmd.Env = withoutWeftVars(os.Environ())
	cmd.Stdout = &logs
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	done := make(chan struct{})
	go func() { // owned by the server process: ends when its stderr closes
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(&logs, sc.Text())
			var l struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "weft serving" {
				addrs <- l.Addr
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if err := cmd.Wait(); err != nil {
			t.Errorf("weft serve: %v\n%s", err, logs.String())
		} else if t.Failed() {
			t.Logf("weft serve's output:\n%s", logs.String())
		}
	})
	select {
	case e.addr = <-addrs:
	case <-done:
		t.Fatalf("weft serve exited before serving:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("weft serve did not say where it serves within 30 s:\n%s", logs.String())
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, "weft-data", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keys struct{ Keys []struct{ Token string } }
	if err := json.Unmarshal(raw, &keys); err != nil || len(keys.Keys) == 0 {
		t.Fatalf("weft-data/keys.json: %v: %s", err, raw)
	}
	e.token = keys.Keys[0].Token
}

// withoutWeftVars drops the WEFT_ variables of the developer's shell, so
// that no test runs against their server or with their token.
func withoutWeftVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "WEFT_") {
			out = append(out, kv)
		}
	}
	return out
}

// localize points README's address at the test server.
func (e *readmeEnv) localize(s string) string {
	return strings.NewReplacer("127.0.0.1:8080", e.addr, "localhost:8080", e.addr).Replace(s)
}

// blockTimeout bounds one block: a command that waits for ever (a server,
// a stream that does not end) fails the test instead of hanging it.
const blockTimeout = 45 * time.Second

// readmeRunner runs blocks in order; ids carries the ids printed so far.
type readmeRunner struct {
	env      *readmeEnv
	ids      ids
	snippets map[string]string
	used     map[string]bool
}

func (r *readmeRunner) run(t *testing.T, b block, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	switch b.lang {
	case "sh", "bash", "shell":
		r.runShell(ctx, t, b, want)
	case "json":
		r.runFrames(ctx, t, b, want)
	case "js", "javascript":
		r.runNode(ctx, t, b, want)
	case "go":
		r.checkGo(t, b)
	default:
		t.Fatalf("%s: the README test cannot run a ```%s block: make it one of sh, json, js or go, or mark it <!-- not-run: why -->", b, b.lang)
	}
}

// checkOutput matches what a block printed against what README shows, and
// fails on an error the README does not show.
func checkOutput(t *testing.T, what string, want []string, got string) {
	t.Helper()
	if miss := matchOutput(want, got); miss != "" {
		t.Errorf("%s: README shows %q, which its output lacks:\n%s", what, miss, got)
		return
	}
	for _, line := range strings.Split(got, "\n") {
		if !strings.Contains(line, `"error":{`) {
			continue
		}
		shown := false
		for _, w := range want {
			if strings.TrimSpace(w) != "..." && outputPattern(strings.TrimSpace(w)).MatchString(strings.TrimSpace(line)) {
				shown = true
			}
		}
		if !shown {
			t.Errorf("%s: an error README does not show:\n%s", what, line)
		}
	}
}

// checkGo finds the block among the compiled regions.
func (r *readmeRunner) checkGo(t *testing.T, b block) {
	text := dedent(strings.Split(strings.TrimSuffix(b.text, "\n"), "\n"))
	for name, region := range r.snippets {
		if region == text {
			r.used[name] = true
			return
		}
	}
	const how = "copy it there, between // readme:NAME and // readme:end, so that it compiles"
	first, _, _ := strings.Cut(text, "\n")
	for name, region := range r.snippets {
		if strings.HasPrefix(region, first+"\n") {
			t.Fatalf("%s is in no region of readme_snippets_test.go (%s); region %s starts alike:\nREADME:\n%s\nregion %s:\n%s", b, how, name, text, name, region)
		}
	}
	t.Fatalf("%s is in no region of readme_snippets_test.go: %s", b, how)
}
