package main_test

// Crash-recovery tests: `weft serve` runs as a real child process, is killed
// with SIGKILL (no graceful shutdown, no flush) in the middle of work, and is
// started again on the same data dir. Over the WebSocket the tests then check
// what README.md promises: no acknowledged execution and no event is lost,
// seqs have no gap and no duplicate, a completed step never runs again, and
// durable sleeps, signal waits and early signals survive the kill.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/weft-run/weft/internal/logbuf"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	crashToken = "t-admin"
	crashKeys  = `{"keys":[{"token":"t-admin","identity":"ops","workspace":"default","scopes":["admin"]}]}`
)

// ---------------------------------------------------------------------------
// The weft binary, built once per test process.

var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// raceEnabled reports whether this test binary was built with -race; the
// server binary is then built with -race too, so a data race in the server
// during recovery shows up in its output.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// weftBinary builds ./ (this package: the test's working directory) once.
func weftBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("crash tests build and run the weft binary; skipped with -short")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "weft-crash-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "weft")
		args := []string{"build", "-o", binPath}
		if raceEnabled() {
			args = append(args, "-race")
		}
		args = append(args, ".")
		wd, err := os.Getwd()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = wd
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build weft: %v", buildErr)
	}
	return binPath
}

// ---------------------------------------------------------------------------
// The server as a child process.

// weftProc is one running `weft serve`.
type weftProc struct {
	label   string
	addr    string
	cmd     *exec.Cmd
	out     *logbuf.Buffer
	done    chan struct{} // closed when the process has exited
	waitErr error
}

func (p *weftProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *weftProc) kill9(t *testing.T) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited before the kill: %v\n%s", p.label, p.waitErr, p.out.String())
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", p.label, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", p.label)
	}
}

// writeKeys writes the keys file with the admin token.
func writeKeys(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(crashKeys), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startWeft runs `weft serve` on a free port and waits until /readyz
// answers 200. The process is killed at test end; its output is logged if
// the test failed (and always checked for data races and panics).
func startWeft(t *testing.T, label, dataDir, keys string) *weftProc {
	t.Helper()
	bin := weftBinary(t)
	var lastErr error
	for attempt := 1; attempt <= 5; attempt++ {
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		p := launchServe(t, bin, label, addr, "--data-dir", dataDir, "--keys", keys)
		err = waitReady(p, 15*time.Second)
		if err == nil {
			return p
		}
		lastErr = err
		if p.exited() && strings.Contains(p.out.String(), "address already in use") {
			continue // lost the port to someone else: try another
		}
		t.Fatalf("%s not ready: %v\n%s", label, err, p.out.String())
	}
	t.Fatalf("%s: could not get a port: %v", label, lastErr)
	return nil
}

// launchServe starts `weft serve --addr addr` with args (JSON logs at
// warn level) without waiting for it. At test end the process is killed
// if still running; its output is checked for data races and panics, and
// logged if the test failed.
func launchServe(t *testing.T, bin, label, addr string, args ...string) *weftProc {
	t.Helper()
	p := &weftProc{label: label, addr: addr, out: &logbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--log-format", "json", "--log-level", "warn"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		out := p.out.String()
		if strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
			t.Errorf("%s (%s) reported a data race or panic:\n%s", p.label, p.addr, out)
		} else if t.Failed() {
			t.Logf("output of %s (%s), exit %v:\n%s", p.label, p.addr, p.waitErr, out)
		}
	})
	return p
}

func waitReady(p *weftProc, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited: %v", p.waitErr)
		}
		resp, err := client.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("/readyz did not answer 200 within %s", limit)
}

// ---------------------------------------------------------------------------
// WebSocket client.

type wsFrame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     json.RawMessage `json:"data"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Complete bool `json:"complete"`
}

func (f wsFrame) String() string {
	b, _ := json.Marshal(f)
	return string(b)
}

type wsConn struct {
	c    *websocket.Conn
	next int
}

func dialWeft(addr string) (*wsConn, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+crashToken)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+addr+"/api/v1/socket", h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, fmt.Errorf("dial %s: %v (HTTP %d)", addr, err, status)
	}
	w := &wsConn{c: c}
	f, err := w.read(time.Now().Add(5 * time.Second))
	if err != nil {
		c.Close()
		return nil, err
	}
	if f.Type != "connected" {
		c.Close()
		return nil, fmt.Errorf("first frame %s, want connected", f)
	}
	return w, nil
}

func mustDial(t *testing.T, addr string) *wsConn {
	t.Helper()
	w, err := dialWeft(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.c.Close() })
	return w
}

func (w *wsConn) send(id, service string, req any) error {
	data, err := json.Marshal(map[string]any{"id": id, "service": service, "request": req})
	if err != nil {
		return err
	}
	_ = w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return w.c.WriteMessage(websocket.TextMessage, data)
}

func (w *wsConn) read(deadline time.Time) (wsFrame, error) {
	_ = w.c.SetReadDeadline(deadline)
	_, data, err := w.c.ReadMessage()
	if err != nil {
		return wsFrame{}, fmt.Errorf("read: %w", err)
	}
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return wsFrame{}, fmt.Errorf("frame %s: %w", data, err)
	}
	if f.ID == "" && f.Error != nil {
		return f, fmt.Errorf("connection-level error frame %s", f)
	}
	return f, nil
}

// call sends one request and returns its final frame (response or error).
// Use it only on a connection with no other request in flight.
func (w *wsConn) call(service string, req any) (wsFrame, error) {
	w.next++
	id := fmt.Sprintf("c%d", w.next)
	if err := w.send(id, service, req); err != nil {
		return wsFrame{}, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := w.read(deadline)
		if err != nil {
			return wsFrame{}, fmt.Errorf("%s: %w", service, err)
		}
		if f.ID == id && (f.Complete || f.Error != nil) {
			return f, nil
		}
	}
}

// mustCall is call that fails the test on a transport or service error and
// decodes the response into out (if not nil).
func (w *wsConn) mustCall(t *testing.T, service string, req, out any) {
	t.Helper()
	f, err := w.call(service, req)
	if err != nil {
		t.Fatal(err)
	}
	if f.Error != nil {
		t.Fatalf("%s %v: error %s: %s", service, req, f.Error.Code, f.Error.Message)
	}
	if out != nil {
		if err := json.Unmarshal(f.Response, out); err != nil {
			t.Fatalf("%s response %s: %v", service, f.Response, err)
		}
	}
}

type startAnswer struct {
	ExecutionID string `json:"execution_id"`
	Status      string `json:"status"`
}

// startWorkflow starts one execution without subscribing.
func startWorkflow(t *testing.T, w *wsConn, name string, params any) string {
	t.Helper()
	var a startAnswer
	w.mustCall(t, "workflow.start", map[string]any{"name": name, "parameters": params, "subscribe": false}, &a)
	if !strings.HasPrefix(a.ExecutionID, "exec_") {
		t.Fatalf("start %s: execution id %q", name, a.ExecutionID)
	}
	return a.ExecutionID
}

type snapshot struct {
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	Workflow    string          `json:"workflow"`
	Result      json.RawMessage `json:"result"`
	LastSeq     uint64          `json:"last_seq"`
}

func getExecution(t *testing.T, w *wsConn, id string) snapshot {
	t.Helper()
	var s snapshot
	w.mustCall(t, "execution.get", map[string]any{"execution_id": id}, &s)
	return s
}

func listExecutions(t *testing.T, w *wsConn, workflow string) []snapshot {
	t.Helper()
	var l struct {
		Items []snapshot `json:"items"`
	}
	w.mustCall(t, "executions.list", map[string]any{"workflow": workflow, "limit": 1000}, &l)
	return l.Items
}

// ---------------------------------------------------------------------------
// Event streams.

type event struct {
	Type      string
	Seq       uint64
	Timestamp time.Time
	Details   struct {
		StepID  string          `json:"step_id"`
		Name    string          `json:"name"`
		Attempt int             `json:"attempt"`
		Result  json.RawMessage `json:"result"`
		Payload json.RawMessage `json:"payload"`
		Error   json.RawMessage `json:"error"`
	}
	Raw json.RawMessage
}

func decodeEvent(f wsFrame) (event, error) {
	var d struct {
		Timestamp   time.Time       `json:"timestamp"`
		ExecutionID string          `json:"execution_id"`
		Seq         uint64          `json:"seq"`
		Details     json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return event{}, fmt.Errorf("event data %s: %w", f.Data, err)
	}
	e := event{Type: f.Type, Seq: d.Seq, Timestamp: d.Timestamp, Raw: f.Data}
	if len(d.Details) > 0 {
		if err := json.Unmarshal(d.Details, &e.Details); err != nil {
			return event{}, fmt.Errorf("event details %s: %w", d.Details, err)
		}
	}
	return e, nil
}

// dump renders a stream one event a line, for failure messages.
func dump(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  seq=%-3d %-20s %s", e.Seq, e.Type, e.Timestamp.Format("15:04:05.000000"))
		if e.Details.StepID != "" || e.Details.Name != "" {
			fmt.Fprintf(&b, " step=%s name=%s attempt=%d", e.Details.StepID, e.Details.Name, e.Details.Attempt)
		}
		if len(e.Details.Result) > 0 {
			fmt.Fprintf(&b, " result=%s", e.Details.Result)
		}
		if len(e.Details.Payload) > 0 {
			fmt.Fprintf(&b, " payload=%s", e.Details.Payload)
		}
		if len(e.Details.Error) > 0 {
			fmt.Fprintf(&b, " error=%s", e.Details.Error)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// collectStreams subscribes (after_seq 0) to every execution, perConn
// subscriptions per connection, and reads each stream until its frame with
// complete:true, or until deadline. It returns whatever it got with an
// error for every stream that did not complete.
func collectStreams(addr string, ids []string, perConn int, deadline time.Time) (map[string][]event, error) {
	var (
		mu      sync.Mutex
		streams = make(map[string][]event, len(ids))
		errs    []error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for start := 0; start < len(ids); start += perConn {
		batch := ids[start:min(start+perConn, len(ids))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := dialWeft(addr)
			if err != nil {
				fail(err)
				return
			}
			defer w.c.Close()
			open := make(map[string]bool, len(batch))
			for _, id := range batch {
				if err := w.send("sub-"+id, "execution.subscribe", map[string]any{"execution_id": id, "after_seq": 0}); err != nil {
					fail(err)
					return
				}
				open["sub-"+id] = true
			}
			for len(open) > 0 {
				f, err := w.read(deadline)
				if err != nil {
					var pending []string
					for id := range open {
						pending = append(pending, strings.TrimPrefix(id, "sub-"))
					}
					sort.Strings(pending)
					fail(fmt.Errorf("streams of %v did not complete: %w", pending, err))
					return
				}
				if !open[f.ID] {
					continue
				}
				id := strings.TrimPrefix(f.ID, "sub-")
				if f.Error != nil {
					fail(fmt.Errorf("subscribe %s: %s: %s", id, f.Error.Code, f.Error.Message))
					delete(open, f.ID)
					continue
				}
				if f.Type != "" {
					e, err := decodeEvent(f)
					if err != nil {
						fail(err)
						return
					}
					mu.Lock()
					streams[id] = append(streams[id], e)
					mu.Unlock()
				}
				if f.Complete {
					delete(open, f.ID)
				}
			}
		}()
	}
	wg.Wait()
	return streams, errors.Join(errs...)
}

// checkSeqs: the events carry seq 1..n, in order, no gap, no duplicate.
func checkSeqs(evs []event) error {
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			return fmt.Errorf("event #%d (%s) has seq %d, want %d", i+1, e.Type, e.Seq, i+1)
		}
	}
	return nil
}

func countType(evs []event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func firstOf(evs []event, typ string) (event, int) {
	for i, e := range evs {
		if e.Type == typ {
			return e, i
		}
	}
	return event{}, -1
}

// checkEnvelope checks what every completed execution's stream must show:
// seqs 1..n, execution_started first, exactly one workflow_start,
// workflow_end and execution_completed, the latter last, with no failure.
func checkEnvelope(evs []event) error {
	if len(evs) == 0 {
		return errors.New("no events")
	}
	if err := checkSeqs(evs); err != nil {
		return err
	}
	if evs[0].Type != "execution_started" {
		return fmt.Errorf("seq 1 is %s, want execution_started", evs[0].Type)
	}
	for typ, want := range map[string]int{
		"execution_started": 1, "workflow_start": 1, "workflow_end": 1, "execution_completed": 1,
		"workflow_error": 0, "execution_failed": 0, "execution_cancelled": 0, "task_error": 0,
	} {
		if got := countType(evs, typ); got != want {
			return fmt.Errorf("%d %s events, want %d", got, typ, want)
		}
	}
	if last := evs[len(evs)-1]; last.Type != "execution_completed" {
		return fmt.Errorf("last event is %s, want execution_completed", last.Type)
	}
	if _, i := firstOf(evs, "workflow_start"); i != 1 {
		return fmt.Errorf("workflow_start at position %d, want 2 (right after execution_started)", i+1)
	}
	if _, i := firstOf(evs, "workflow_end"); i != len(evs)-2 {
		return fmt.Errorf("workflow_end at position %d, want %d (right before execution_completed)", i+1, len(evs)-1)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Tests.

const (
	crashExecutions = 40
	crashSteps      = 25
	crashDelayMS    = 20
)

// countdownReport is what one countdown stream tells about the crash.
type countdownReport struct {
	rerunSteps  int  // steps whose task_start appears more than once (interrupted mid-step)
	beforeKill  bool // some task_end was durable before the kill
	afterKill   bool // some task_end was recorded after the restart
	resumedOnly bool // events on both sides of the kill
}

// checkCountdown checks one countdown stream against the crash at killAt.
func checkCountdown(evs []event, killAt time.Time) (countdownReport, error) {
	var r countdownReport
	if err := checkEnvelope(evs); err != nil {
		return r, err
	}
	last := evs[len(evs)-1]
	if string(last.Details.Result) != fmt.Sprintf(`{"steps":%d}`, crashSteps) {
		return r, fmt.Errorf("execution_completed result %s, want {\"steps\":%d}", last.Details.Result, crashSteps)
	}
	starts := map[string][]event{} // step name -> its task_start events
	ended := map[string]event{}    // step name -> its task_end
	stepIDs := map[string]string{} // step name -> step id
	nextTick := 1
	for _, e := range evs {
		if e.Type != "task_start" && e.Type != "task_end" {
			continue
		}
		name := e.Details.Name
		if id, ok := stepIDs[name]; ok && id != e.Details.StepID {
			return r, fmt.Errorf("step %s has step ids %s and %s", name, id, e.Details.StepID)
		}
		stepIDs[name] = e.Details.StepID
		switch e.Type {
		case "task_start":
			if _, done := ended[name]; done {
				return r, fmt.Errorf("seq %d: task_start of %s after its task_end: a completed step ran again", e.Seq, name)
			}
			if name != fmt.Sprintf("tick-%d", nextTick) {
				return r, fmt.Errorf("seq %d: task_start of %s while tick-%d is next", e.Seq, name, nextTick)
			}
			starts[name] = append(starts[name], e)
		case "task_end":
			if _, done := ended[name]; done {
				return r, fmt.Errorf("seq %d: second task_end of %s", e.Seq, name)
			}
			if name != fmt.Sprintf("tick-%d", nextTick) {
				return r, fmt.Errorf("seq %d: task_end of %s while tick-%d is next (out of order)", e.Seq, name, nextTick)
			}
			if len(starts[name]) == 0 {
				return r, fmt.Errorf("seq %d: task_end of %s without task_start", e.Seq, name)
			}
			ended[name] = e
			nextTick++
			if e.Timestamp.Before(killAt) {
				r.beforeKill = true
			} else {
				r.afterKill = true
			}
		}
	}
	if len(ended) != crashSteps {
		return r, fmt.Errorf("%d task_end events, want %d (one per step)", len(ended), crashSteps)
	}
	for i := 1; i <= crashSteps; i++ {
		name := fmt.Sprintf("tick-%d", i)
		ss := starts[name]
		if len(ss) > 1 {
			// Only the crash may have made a step start again: every start
			// but the last was before the kill, the last after the restart.
			for _, s := range ss[:len(ss)-1] {
				if !s.Timestamp.Before(killAt) {
					return r, fmt.Errorf("step %s started %d times, not only because of the kill", name, len(ss))
				}
			}
			if ss[len(ss)-1].Timestamp.Before(killAt) {
				return r, fmt.Errorf("step %s started %d times before the kill", name, len(ss))
			}
			r.rerunSteps++
		}
	}
	if r.rerunSteps > 1 {
		return r, fmt.Errorf("%d steps were started again; one kill can interrupt at most one step of a sequential workflow", r.rerunSteps)
	}
	if want := 2 + 2*crashSteps + 2 + r.rerunSteps; len(evs) != want {
		return r, fmt.Errorf("%d events, want %d", len(evs), want)
	}
	r.resumedOnly = evs[0].Timestamp.Before(killAt) && !last.Timestamp.Before(killAt)
	return r, nil
}

// TestCrashRecoveryKill9 kills the server with SIGKILL while 40 countdown
// executions are half-way, restarts it on the same data dir, and checks
// that every acknowledged execution completes with every step run to
// completion exactly once.
func TestCrashRecoveryKill9(t *testing.T) {
	weftBinary(t)
	dir, keys := t.TempDir(), writeKeys(t)
	p1 := startWeft(t, "weft#1", dir, keys)

	// Start the executions, pipelined on one connection.
	w := mustDial(t, p1.addr)
	params := map[string]any{"steps": crashSteps, "delay_ms": crashDelayMS}
	for i := range crashExecutions {
		if err := w.send(fmt.Sprintf("start-%d", i), "workflow.start",
			map[string]any{"name": "countdown", "parameters": params, "subscribe": false}); err != nil {
			t.Fatal(err)
		}
	}
	var acked []string
	for len(acked) < crashExecutions {
		f, err := w.read(time.Now().Add(10 * time.Second))
		if err != nil {
			t.Fatalf("after %d acknowledged starts: %v", len(acked), err)
		}
		if !strings.HasPrefix(f.ID, "start-") {
			continue
		}
		if f.Error != nil || !f.Complete {
			t.Fatalf("start answered %s", f)
		}
		var a startAnswer
		if err := json.Unmarshal(f.Response, &a); err != nil || !strings.HasPrefix(a.ExecutionID, "exec_") {
			t.Fatalf("start answered %s (%v)", f, err)
		}
		acked = append(acked, a.ExecutionID)
	}
	startedAt := time.Now()

	// Kill when several executions are well into their steps, a quarter to
	// three quarters of the way (from the store's point of view: last_seq is
	// what is durable; 54 events make a run without a crash).
	var (
		lastSnap []snapshot
		midRun   int
		polls    int
	)
	pollUntil := time.Now().Add(15 * time.Second)
	for {
		polls++
		lastSnap = listExecutions(t, w, "countdown")
		midRun = 0
		completed := 0
		for _, s := range lastSnap {
			if s.Status == "completed" {
				completed++
			}
			if s.Status == "running" && s.LastSeq >= 16 && s.LastSeq <= 44 {
				midRun++
			}
		}
		if midRun >= 5 {
			if completed > 0 {
				t.Logf("%d executions had already completed at the kill", completed)
			}
			break
		}
		if time.Now().After(pollUntil) {
			t.Fatalf("after %d polls, only %d executions had 16 <= last_seq <= 44: %+v", polls, midRun, lastSnap)
		}
		time.Sleep(25 * time.Millisecond)
	}
	killAt := time.Now()
	p1.kill9(t)
	seqs := make([]int, 0, len(lastSnap))
	for _, s := range lastSnap {
		seqs = append(seqs, int(s.LastSeq))
	}
	sort.Ints(seqs)
	t.Logf("SIGKILL %s after the starts (%d polls); last_seq of the executions just before: %v",
		killAt.Sub(startedAt).Round(time.Millisecond), polls, seqs)

	p2 := startWeft(t, "weft#2", dir, keys)
	readyAt := time.Now()
	t.Logf("restarted and ready %s after the kill", readyAt.Sub(killAt).Round(time.Millisecond))

	streams, err := collectStreams(p2.addr, acked, 10, time.Now().Add(45*time.Second))
	if err != nil {
		t.Errorf("collect streams: %v", err)
	}
	t.Logf("all streams read %s after the restart", time.Since(readyAt).Round(time.Millisecond))

	var interrupted, midRunByTime, resumed int
	for _, id := range acked {
		evs, ok := streams[id]
		if !ok {
			t.Errorf("execution %s: no stream (lost?)", id)
			continue
		}
		r, err := checkCountdown(evs, killAt)
		if err != nil {
			t.Errorf("execution %s: %v\n%s", id, err, dump(evs))
			continue
		}
		if r.rerunSteps > 0 {
			interrupted++
		}
		if r.beforeKill && r.afterKill {
			midRunByTime++
		}
		if r.resumedOnly {
			resumed++
		}
	}
	// Mid-run: some but not all task_end events were durable before the
	// kill (event timestamps come from the server, on this host's clock).
	// Mid-step, a subset: a durable task_start had no durable task_end, so
	// the step ran again after the restart. Under load the group commit
	// often puts a step's task_start and task_end in one transaction, so
	// that count may legitimately be 0 even though every run was cut.
	t.Logf("executions interrupted mid-run (task_end before and after the kill): %d of %d; mid-step (a step's task_start twice): %d; resumed after the restart: %d",
		midRunByTime, len(acked), interrupted, resumed)
	if midRunByTime == 0 {
		t.Errorf("the kill did not land mid-run (no execution had task_end events on both sides of it): the test proves nothing")
	}

	// The store agrees: exactly the acknowledged executions, all completed.
	w2 := mustDial(t, p2.addr)
	list := listExecutions(t, w2, "countdown")
	if len(list) != len(acked) {
		t.Errorf("executions.list shows %d countdown executions, want %d", len(list), len(acked))
	}
	for _, s := range list {
		if want := uint64(len(streams[s.ExecutionID])); s.Status != "completed" || s.LastSeq != want {
			t.Errorf("snapshot %s: status %s last_seq %d, want completed and %d", s.ExecutionID, s.Status, s.LastSeq, want)
		}
	}
}

// TestCrashDuringSleepAndSignalWait kills the server while one execution
// sleeps durably and another waits for a signal.
func TestCrashDuringSleepAndSignalWait(t *testing.T) {
	weftBinary(t)
	dir, keys := t.TempDir(), writeKeys(t)
	p1 := startWeft(t, "weft#1", dir, keys)
	w := mustDial(t, p1.addr)

	napID := startWorkflow(t, w, "nap", map[string]any{"seconds": 3})
	approvalID := startWorkflow(t, w, "approval", map[string]any{"delay_ms": 0})

	// Both must be suspended (their waits recorded) before the kill.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, n := getExecution(t, w, approvalID), getExecution(t, w, napID)
		if a.Status == "waiting" && n.Status == "waiting" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not both waiting after 10 s: approval %+v, nap %+v", a, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	killAt := time.Now()
	p1.kill9(t)

	p2 := startWeft(t, "weft#2", dir, keys)
	readyAt := time.Now()
	restart := readyAt.Sub(killAt)
	t.Logf("restarted and ready %s after the kill", restart.Round(time.Millisecond))

	w2 := mustDial(t, p2.addr)
	var sig struct {
		Delivered bool `json:"delivered"`
	}
	w2.mustCall(t, "execution.signal", map[string]any{"execution_id": approvalID, "name": "approve", "payload": map[string]any{"ok": true}}, &sig)
	if !sig.Delivered {
		t.Fatalf("signal after restart: delivered false")
	}

	streams, err := collectStreams(p2.addr, []string{approvalID, napID}, 2, time.Now().Add(20*time.Second))
	if err != nil {
		t.Errorf("collect streams: %v", err)
	}

	// approval: the wait survived the kill, and the signal after the
	// restart ended it, once.
	{
		evs := streams[approvalID]
		err := checkEnvelope(evs)
		if err == nil {
			err = checkSignalStream(evs, `{"ok":true}`)
		}
		if err != nil {
			t.Errorf("approval %s: %v\n%s", approvalID, err, dump(evs))
		}
	}

	// nap: woke when it was due, neither restarted from zero nor skipped.
	{
		evs := streams[napID]
		err := checkEnvelope(evs)
		if err == nil {
			if last := evs[len(evs)-1]; string(last.Details.Result) != `"rested"` {
				err = fmt.Errorf("result %s, want \"rested\"", last.Details.Result)
			}
		}
		if err == nil {
			began, ended := evs[0].Timestamp, evs[len(evs)-1].Timestamp
			slept := ended.Sub(began)
			t.Logf("nap: started %s before the kill, completed %s after its start", killAt.Sub(began).Round(time.Millisecond), slept.Round(time.Millisecond))
			switch {
			case slept < 3*time.Second:
				err = fmt.Errorf("completed %s after its start: the 3 s sleep was cut short", slept)
			case slept > 3*time.Second+restart+5*time.Second:
				err = fmt.Errorf("completed %s after its start (restart took %s): the sleep started over", slept, restart)
			}
		}
		if err != nil {
			t.Errorf("nap %s: %v\n%s", napID, err, dump(evs))
		}
	}
}

// checkSignalStream checks an approval stream: prepare ran to completion
// once, then signal_waiting and signal_received exactly once each, in that
// order, and the result is the signal's payload.
func checkSignalStream(evs []event, payload string) error {
	if n := countType(evs, "signal_waiting"); n != 1 {
		return fmt.Errorf("%d signal_waiting events, want 1", n)
	}
	if n := countType(evs, "signal_received"); n != 1 {
		return fmt.Errorf("%d signal_received events, want 1", n)
	}
	if n := countType(evs, "task_end"); n != 1 {
		return fmt.Errorf("%d task_end events (prepare), want 1", n)
	}
	waiting, wi := firstOf(evs, "signal_waiting")
	received, ri := firstOf(evs, "signal_received")
	_, ti := firstOf(evs, "task_end")
	if !(ti < wi && wi < ri) {
		return fmt.Errorf("order task_end@%d signal_waiting@%d signal_received@%d", ti+1, wi+1, ri+1)
	}
	if waiting.Details.Name != "approve" || received.Details.Name != "approve" {
		return fmt.Errorf("signal names %q / %q, want approve", waiting.Details.Name, received.Details.Name)
	}
	if !sameJSON(received.Details.Payload, payload) {
		return fmt.Errorf("signal_received payload %s, want %s", received.Details.Payload, payload)
	}
	if last := evs[len(evs)-1]; !sameJSON(last.Details.Result, payload) {
		return fmt.Errorf("result %s, want %s", last.Details.Result, payload)
	}
	return nil
}

func sameJSON(a json.RawMessage, b string) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

// TestSignalBeforeWaitSurvivesKill signals an execution before it waits,
// kills the server at once, and checks that the signal was kept.
func TestSignalBeforeWaitSurvivesKill(t *testing.T) {
	weftBinary(t)
	dir, keys := t.TempDir(), writeKeys(t)
	p1 := startWeft(t, "weft#1", dir, keys)
	w := mustDial(t, p1.addr)

	id := startWorkflow(t, w, "approval", map[string]any{"delay_ms": 1500})
	var sig struct {
		Delivered bool `json:"delivered"`
	}
	w.mustCall(t, "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": map[string]any{"early": true}}, &sig)
	if !sig.Delivered {
		t.Fatalf("early signal: delivered false")
	}
	killAt := time.Now()
	p1.kill9(t)

	p2 := startWeft(t, "weft#2", dir, keys)
	streams, err := collectStreams(p2.addr, []string{id}, 1, time.Now().Add(15*time.Second))
	if err != nil {
		t.Errorf("collect streams: %v", err)
	}
	evs := streams[id]
	err = checkEnvelope(evs)
	if err == nil {
		err = checkSignalStream(evs, `{"early":true}`)
	}
	if err == nil {
		// The wait began after the restart: the signal really came first.
		if waiting, _ := firstOf(evs, "signal_waiting"); waiting.Timestamp.Before(killAt) {
			err = fmt.Errorf("signal_waiting at %s, before the kill at %s: the signal was not early", waiting.Timestamp, killAt)
		}
	}
	if err == nil {
		t.Logf("prepare started %d time(s) (the first start was durable before the kill or not); signal_waiting after the restart",
			countType(evs, "task_start"))
	}
	if err != nil {
		t.Errorf("approval %s: %v\n%s", id, err, dump(evs))
	}
}
