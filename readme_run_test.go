//go:build unix

package weft_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
)

// How readme_test.go runs each kind of block.

// shellTools are the programs README's shell blocks call besides weft and
// go: a block that calls one the machine lacks is skipped, saying so.
var shellTools = []string{"curl", "jq", "node", "sha256sum"}

// runShell runs a shell block's commands one by one in one bash, so that
// what one sets (a variable, an export) the next sees, and checks each
// one's output.
func (r *readmeRunner) runShell(ctx context.Context, t *testing.T, b block, want []string) {
	for _, tool := range shellTools {
		if strings.Contains(b.text, tool+" ") {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s calls %s, which is not installed", b, tool)
			}
		}
	}
	if strings.Contains(b.text, "node ") {
		r.needWS(t)
	}
	sh := startBash(ctx, t, r.env)
	var all strings.Builder
	for _, c := range parseCommands(r.env.localize(b.text)) {
		text, err := r.ids.fill(c.text)
		if err != nil {
			t.Fatalf("%s, line %d: %v", b, c.line, err)
		}
		out, status, err := sh.run(text)
		if err != nil {
			t.Fatalf("%s, line %d: %s\n%v; its output:\n%s", b, c.line, text, err, out)
		}
		t.Logf("$ %s\n%s", text, out)
		what := fmt.Sprintf("%s, line %d: %s", b, c.line, text)
		if status != 0 {
			t.Fatalf("%s\nexit status %d; its output:\n%s", what, status, out)
		}
		checkOutput(t, what, c.want, out)
		r.ids.learn(out)
		all.WriteString(out)
	}
	if want != nil {
		checkOutput(t, b.String(), want, all.String())
	}
}

// bash is one bash process fed a command at a time on its stdin; each
// command's output (stdout and stderr) ends at a line with a random
// marker and its exit status.
type bash struct {
	stdin  io.WriteCloser
	lines  chan string
	marker string
	ctx    context.Context
}

func startBash(ctx context.Context, t *testing.T, e *readmeEnv) *bash {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-s")
	cmd.Dir, cmd.Env = e.dir, e.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children stop with it
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mark := make([]byte, 8)
	_, _ = rand.Read(mark)
	sh := &bash{stdin: stdin, lines: make(chan string, 64), marker: "@@readme-" + hex.EncodeToString(mark), ctx: ctx}
	go func() { // owned by the bash process: ends when its stdout closes
		defer close(sh.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			sh.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for range sh.lines { // drain, so the reader ends
		}
		_ = cmd.Wait()
	})
	if _, _, err := sh.run("exec 2>&1; set -o pipefail"); err != nil {
		t.Fatal(err)
	}
	return sh
}

// run sends one command and reads its output up to the marker.
func (sh *bash) run(command string) (string, int, error) {
	script := "{\n" + command + "\n} </dev/null; printf '\\n%s %d\\n' " + sh.marker + " $?\n"
	if _, err := io.WriteString(sh.stdin, script); err != nil {
		return "", 0, err
	}
	var out []string
	for {
		select {
		case line, ok := <-sh.lines:
			if !ok {
				return strings.Join(out, "\n"), 0, fmt.Errorf("bash exited")
			}
			if status, found := strings.CutPrefix(line, sh.marker+" "); found {
				n, err := strconv.Atoi(status)
				// The marker's own newline ends output without one; drop it.
				if len(out) > 0 && out[len(out)-1] == "" {
					out = out[:len(out)-1]
				}
				return strings.Join(out, "\n"), n, err
			}
			out = append(out, line)
		case <-sh.ctx.Done():
			return strings.Join(out, "\n"), 0, fmt.Errorf("did not finish within %s", blockTimeout)
		}
	}
}

// runFrames sends a JSON block's frames on one socket, reading each one's
// answers to the last.
func (r *readmeRunner) runFrames(ctx context.Context, t *testing.T, b block, want []string) {
	u := "ws://" + r.env.addr + "/api/v1/socket?token=" + url.QueryEscape(r.env.token)
	d := websocket.Dialer{}
	conn, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	if f, err := readFrame(conn); err != nil || !strings.Contains(f, `"type":"connected"`) {
		t.Fatalf("first frame %s, %v; want connected", f, err)
	}
	var all strings.Builder
	lines := strings.Split(strings.TrimSpace(r.env.localize(b.text)), "\n")
	for n, line := range lines {
		frame, err := r.ids.fill(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("%s, line %d: %v", b, n+1, err)
		}
		var req struct{ ID string }
		if err := json.Unmarshal([]byte(frame), &req); err != nil {
			t.Fatalf("%s, line %d: not a JSON frame: %v", b, n+1, err)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		for done := req.ID == ""; !done; {
			f, err := readFrame(conn)
			var closed *websocket.CloseError
			if errors.As(err, &closed) && n == len(lines)-1 {
				f, done = fmt.Sprintf("close %d: %s", closed.Code, closed.Text), true
			} else if err != nil {
				t.Fatalf("%s, line %d: %s: read the answer: %v", b, n+1, frame, err)
			}
			out.WriteString(f + "\n")
			done = done || lastAnswer(f, req.ID)
		}
		t.Logf("> %s\n%s", frame, out.String())
		checkOutput(t, fmt.Sprintf("%s, line %d: %s", b, n+1, frame), nil, out.String())
		r.ids.learn(out.String())
		all.WriteString(out.String())
	}
	if want != nil {
		checkOutput(t, b.String(), want, all.String())
	}
}

func readFrame(conn *websocket.Conn) (string, error) {
	_, msg, err := conn.ReadMessage()
	return string(msg), err
}

// lastAnswer tells whether f ends the answers to request id: an error, or
// a response or event not marked "complete": false.
func lastAnswer(f, id string) bool {
	var a struct {
		ID       string          `json:"id"`
		Response json.RawMessage `json:"response"`
		Error    json.RawMessage `json:"error"`
		Complete *bool           `json:"complete"`
	}
	if json.Unmarshal([]byte(f), &a) != nil || a.ID != id {
		return false
	}
	if a.Error != nil || (a.Complete != nil && *a.Complete) {
		return true
	}
	return a.Response != nil && a.Complete == nil
}

// runNode runs a JavaScript block as an ES module, with `token` defined
// and its imports of the client and of ws pointed at clients/js; it ends
// when the block's last statement has.
func (r *readmeRunner) runNode(ctx context.Context, t *testing.T, b block, want []string) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	r.needWS(t)
	js := filepath.Join(r.env.root, "clients", "js")
	src := strings.NewReplacer(
		"from './weft.js'", "from '"+filepath.Join(js, "weft.js")+"'",
		"from 'ws'", "from '"+filepath.Join(js, "node_modules", "ws", "wrapper.mjs")+"'",
	).Replace(r.env.localize(b.text))
	src = "const token = process.env.TOKEN;\n" + src + "\nprocess.exit(0);\n"
	file := filepath.Join(t.TempDir(), "block.mjs")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, file)
	cmd.Dir, cmd.Env = r.env.dir, r.env.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: node: %v\n%s", b, err, out.String())
	}
	t.Logf("node:\n%s", out.String())
	checkOutput(t, b.String(), want, out.String())
	r.ids.learn(out.String())
}

// needWS skips a block that runs Node where Node has no WebSocket of its
// own (before 22) and clients/js's dev dependency ws is not installed.
func (r *readmeRunner) needWS(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(r.env.root, "clients", "js", "node_modules", "ws", "package.json")); err != nil {
		t.Skip("clients/js/node_modules/ws is missing: run npm ci in clients/js (go test ./clients/js/ does)")
	}
}
