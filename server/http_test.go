package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-run/weft/server"
)

// startHTTPServer is startServer with a configuration the test adjusts
// (metrics token, HTTP limits).
func startHTTPServer(t testing.TB, adjust func(*server.Config)) *testServer {
	t.Helper()
	return bootServer(t, "", adjust)
}

// httpResult is one HTTP answer, read whole.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// httpErrorBody is the protocol's error body.
type httpErrorBody struct {
	Error *struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Retryable *bool  `json:"retryable"`
	} `json:"error"`
}

// code returns the error code of an error answer ("" when the body has no
// error object).
func (r httpResult) code(t testing.TB) string {
	t.Helper()
	var e httpErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		return ""
	}
	if e.Error.Message == "" || e.Error.Retryable == nil {
		t.Errorf("error body %s lacks message or retryable", r.body)
	}
	return e.Error.Code
}

// expectError fails unless the answer is status with the protocol's error
// body carrying code.
func (r httpResult) expectError(t testing.TB, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d %s", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	if got := r.code(t); got != code {
		t.Fatalf("error code %q (%s), want %q", got, r.body, code)
	}
}

func (r httpResult) expectStatus(t testing.TB, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
}

// httpDo sends one request. body is nil (none), a string or []byte (sent
// as is) or a value sent as JSON. header holds name, value pairs.
func httpDo(t testing.TB, ts *testServer, method, path, token string, body any, header ...string) httpResult {
	t.Helper()
	req := newHTTPRequest(t, ts, method, path, token, body, header...)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: data}
}

func newHTTPRequest(t testing.TB, ts *testServer, method, path, token string, body any, header ...string) *http.Request {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+ts.Addr()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// httpStart starts an execution over HTTP and returns its id.
func httpStart(t testing.TB, ts *testServer, token, workflow string, params any) string {
	t.Helper()
	r := httpDo(t, ts, "POST", "/api/v1/workflows/"+workflow+"/executions", token, map[string]any{"parameters": params})
	r.expectStatus(t, http.StatusAccepted)
	return decode[execSnapshot](t, r.body).ExecutionID
}

// httpWaitStatus polls GET /api/v1/executions/{id} until its status is want.
func httpWaitStatus(t testing.TB, ts *testServer, token, id, want string) execSnapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := httpDo(t, ts, "GET", "/api/v1/executions/"+id, token, nil)
		r.expectStatus(t, http.StatusOK)
		snap := decode[execSnapshot](t, r.body)
		if snap.Status == want {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s stays %s, want %s", id, snap.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// historyLine is one line of the JSON-lines history.
type historyLine struct {
	Type string    `json:"type"`
	Data eventData `json:"data"`
}

func parseLines(t testing.TB, body []byte) []historyLine {
	t.Helper()
	var out []historyLine
	for line := range bytes.Lines(body) {
		var l historyLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("history line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

func TestHTTPWorkflowsAndStart(t *testing.T) {
	ts := startServer(t, "")
	r := httpDo(t, ts, "GET", "/api/v1/workflows", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	list := decode[struct {
		Workflows []struct {
			Name             string          `json:"name"`
			ParametersSchema json.RawMessage `json:"parameters_schema"`
		} `json:"workflows"`
	}](t, r.body)
	var names []string
	for _, w := range list.Workflows {
		names = append(names, w.Name)
		if len(w.ParametersSchema) == 0 {
			t.Errorf("workflow %s has no parameters_schema", w.Name)
		}
	}
	for _, want := range []string{"echo", "countdown", "approval", "flaky", "search-candidates"} {
		if !slices.Contains(names, want) {
			t.Errorf("workflows %q lack %q", names, want)
		}
	}

	r = httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken,
		map[string]any{"parameters": map[string]any{"hello": "http"}, "metadata": map[string]any{"source": "webhook"}})
	r.expectStatus(t, http.StatusAccepted)
	started := decode[execSnapshot](t, r.body)
	if !strings.HasPrefix(started.ExecutionID, "exec_") || started.Status != "running" {
		t.Fatalf("start answered %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/executions/"+started.ExecutionID {
		t.Errorf("Location %q", loc)
	}
	snap := httpWaitStatus(t, ts, adminToken, started.ExecutionID, "completed")
	if !sameJSONValue(snap.Result, `{"hello":"http"}`) {
		t.Errorf("result %s", snap.Result)
	}
	full := decode[map[string]json.RawMessage](t, httpDo(t, ts, "GET", "/api/v1/executions/"+started.ExecutionID, adminToken, nil).body)
	if !sameJSONValue(full["metadata"], `{"source":"webhook"}`) || len(full["steps"]) < 3 {
		t.Errorf("snapshot lacks metadata or steps: %s %s", full["metadata"], full["steps"])
	}

	// No body at all is an empty start.
	r = httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken, nil)
	r.expectStatus(t, http.StatusAccepted)

	t.Run("bad_input", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			code       string
		}{
			{"not_json", "/api/v1/workflows/echo/executions", `{"parameters":`, 400, "INVALID_REQUEST"},
			{"not_an_object", "/api/v1/workflows/echo/executions", `[1,2]`, 400, "INVALID_REQUEST"},
			{"parameters_not_an_object", "/api/v1/workflows/echo/executions", `{"parameters":"x"}`, 400, "INVALID_REQUEST"},
			{"parameters_do_not_fit", "/api/v1/workflows/countdown/executions", `{"parameters":{"steps":"many"}}`, 400, "INVALID_REQUEST"},
			{"unknown_workflow", "/api/v1/workflows/no-such/executions", `{}`, 404, "WORKFLOW_NOT_FOUND"},
			{"too_large", "/api/v1/workflows/echo/executions", `{"parameters":{"x":"` + strings.Repeat("a", 70000) + `"}}`, 413, "WS_MESSAGE_TOO_LARGE"},
			{"signal_not_json", "/api/v1/executions/" + started.ExecutionID + "/signals/approve", `{nope`, 400, "INVALID_REQUEST"},
			{"cancel_not_json", "/api/v1/executions/" + started.ExecutionID + "/cancel", `reason`, 400, "INVALID_REQUEST"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				httpDo(t, ts, "POST", tc.path, adminToken, tc.body).expectError(t, tc.status, tc.code)
			})
		}
		httpDo(t, ts, "GET", "/api/v1/executions?limit=many", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
		httpDo(t, ts, "GET", "/api/v1/executions?limit=5000", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
		httpDo(t, ts, "GET", "/api/v1/executions?status=sleeping", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
		httpDo(t, ts, "GET", "/api/v1/executions?cursor=garbage", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
		httpDo(t, ts, "GET", "/api/v1/executions/"+started.ExecutionID+"/events?after_seq=-1", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
		httpDo(t, ts, "GET", "/api/v1/executions/exec_nope", adminToken, nil).expectError(t, 404, "EXECUTION_NOT_FOUND")
		httpDo(t, ts, "PUT", "/api/v1/executions/"+started.ExecutionID, adminToken, nil).expectError(t, 404, "UNKNOWN_SERVICE")
		httpDo(t, ts, "GET", "/api/v1/rooms/lobby/broadcast", adminToken, nil).expectError(t, 404, "UNKNOWN_SERVICE")
		httpDo(t, ts, "PUT", "/api/v1/schedules", adminToken, nil).expectError(t, 404, "UNKNOWN_SERVICE")
	})
}

func sameJSONValue(raw json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestHTTPListFiltersAndPages(t *testing.T) {
	ts := startServer(t, "")
	var echoes []string
	for range 3 {
		echoes = append(echoes, httpStart(t, ts, adminToken, "echo", map[string]any{}))
	}
	flaky := httpStart(t, ts, adminToken, "flaky", map[string]any{"fail_times": 11})
	for _, id := range echoes {
		httpWaitStatus(t, ts, adminToken, id, "completed")
	}
	httpWaitStatus(t, ts, adminToken, flaky, "failed")

	type page struct {
		Items      []execSnapshot `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	ids := func(p page) []string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.ExecutionID)
		}
		return out
	}
	get := func(query string) page {
		r := httpDo(t, ts, "GET", "/api/v1/executions"+query, readerToken, nil)
		r.expectStatus(t, http.StatusOK)
		return decode[page](t, r.body)
	}
	if got := ids(get("?status=failed")); !slices.Equal(got, []string{flaky}) {
		t.Errorf("status=failed: %q, want %q", got, flaky)
	}
	if got := ids(get("?workflow=echo")); len(got) != 3 || slices.Contains(got, flaky) {
		t.Errorf("workflow=echo: %q", got)
	}
	var all []string
	p := get("?limit=2")
	all = append(all, ids(p)...)
	if len(p.Items) != 2 || p.NextCursor == "" {
		t.Fatalf("first page %+v", p)
	}
	p = get("?limit=2&cursor=" + p.NextCursor)
	all = append(all, ids(p)...)
	if len(p.Items) != 2 || p.NextCursor != "" && len(get("?limit=2&cursor="+p.NextCursor).Items) != 0 {
		t.Fatalf("second page %+v", p)
	}
	slices.Sort(all)
	want := append(slices.Clone(echoes), flaky)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("pages hold %q, want %q", all, want)
	}
}

func TestHTTPEventHistoryAsJSONLines(t *testing.T) {
	ts := startServer(t, "")
	id := httpStart(t, ts, adminToken, "countdown", map[string]any{"steps": 3, "delay_ms": 1})
	snap := httpWaitStatus(t, ts, adminToken, id, "completed")

	r := httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events", readerToken, nil)
	r.expectStatus(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	lines := parseLines(t, r.body)
	if uint64(len(lines)) != snap.LastSeq {
		t.Fatalf("%d lines, want last_seq %d", len(lines), snap.LastSeq)
	}
	for i, l := range lines {
		if l.Data.Seq != uint64(i+1) || l.Data.ExecutionID != id || l.Data.Workflow != "countdown" {
			t.Fatalf("line %d: %+v", i, l)
		}
	}
	if lines[0].Type != "execution_started" || lines[len(lines)-1].Type != "execution_completed" {
		t.Errorf("types %s ... %s", lines[0].Type, lines[len(lines)-1].Type)
	}
	// The same events as the socket's execution.subscribe, byte for byte in data.
	c := dial(t, ts, readerToken)
	c.request("sub", "execution.subscribe", map[string]any{"execution_id": id})
	frames := c.readUntilComplete("sub")
	var socketTypes []string
	for _, f := range frames {
		if f.Type != "" {
			socketTypes = append(socketTypes, f.Type)
		}
	}
	var httpTypes []string
	for _, l := range lines {
		httpTypes = append(httpTypes, l.Type)
	}
	if !slices.Equal(socketTypes, httpTypes) {
		t.Errorf("socket %q, http %q", socketTypes, httpTypes)
	}

	r = httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events?after_seq=3", readerToken, nil)
	if rest := parseLines(t, r.body); uint64(len(rest)) != snap.LastSeq-3 || rest[0].Data.Seq != 4 {
		t.Fatalf("after_seq=3: %d lines starting at %d", len(rest), rest[0].Data.Seq)
	}
	r = httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events?after_seq="+strconv.FormatUint(snap.LastSeq, 10), readerToken, nil)
	r.expectStatus(t, http.StatusOK)
	if len(r.body) != 0 {
		t.Errorf("nothing after last_seq, got %s", r.body)
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	ID    string
	Event string
	Data  string
}

// sseStream reads SSE events from a live response.
type sseStream struct {
	t    testing.TB
	resp *http.Response
	r    *bufio.Reader
	// comments counts comment lines (heartbeats).
	comments int
}

// openSSE opens GET .../events?query with Accept: text/event-stream.
func openSSE(t testing.TB, ts *testServer, token, execID, query string, header ...string) *sseStream {
	t.Helper()
	req := newHTTPRequest(t, ts, "GET", "/api/v1/executions/"+execID+"/events?"+query, token, nil,
		append([]string{"Accept", "text/event-stream"}, header...)...)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event, or ok=false at the end of the stream. It
// fails the test after 10 s.
func (s *sseStream) next() (ev sseEvent, ok bool) {
	s.t.Helper()
	type result struct {
		ev  sseEvent
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		var ev sseEvent
		seen := false
		for {
			line, err := s.r.ReadString('\n')
			if err == io.EOF && line == "" && !seen {
				done <- result{ok: false}
				return
			}
			if err != nil {
				done <- result{err: err}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if seen {
					done <- result{ev: ev, ok: true}
					return
				}
			case strings.HasPrefix(line, ":"):
				s.comments++
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				seen = true
				switch field {
				case "id":
					ev.ID = value
				case "event":
					ev.Event = value
				case "data":
					ev.Data += value
				}
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			s.t.Fatalf("read SSE: %v", r.err)
		}
		return r.ev, r.ok
	case <-time.After(10 * time.Second):
		s.t.Fatal("no SSE event within 10 s")
		return sseEvent{}, false
	}
}

// check verifies an event's fields agree: id = data.seq, event = type.
func (s *sseStream) check(ev sseEvent, execID string) eventData {
	s.t.Helper()
	var d eventData
	if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
		s.t.Fatalf("SSE data %q: %v", ev.Data, err)
	}
	if ev.ID != strconv.FormatUint(d.Seq, 10) || d.ExecutionID != execID || ev.Event == "" {
		s.t.Fatalf("SSE event %+v does not match its data", ev)
	}
	return d
}

// TestSSEResumeWithLastEventID reads part of a countdown as SSE,
// disconnects, reconnects with Last-Event-ID and gets exactly the rest.
func TestSSEResumeWithLastEventID(t *testing.T) {
	ts := startServer(t, "")
	id := httpStart(t, ts, adminToken, "countdown", map[string]any{"steps": 8, "delay_ms": 40})

	first := openSSE(t, ts, readerToken, id, "")
	if first.resp.StatusCode != http.StatusOK || first.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE answer %d %q", first.resp.StatusCode, first.resp.Header.Get("Content-Type"))
	}
	var seen []uint64
	for len(seen) < 5 {
		ev, ok := first.next()
		if !ok {
			t.Fatal("stream ended early")
		}
		seen = append(seen, first.check(ev, id).Seq)
	}
	if !slices.Equal(seen, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("first connection saw %v", seen)
	}
	first.resp.Body.Close() // disconnect mid-run

	// after_seq=1 is ignored: Last-Event-ID wins.
	second := openSSE(t, ts, readerToken, id, "after_seq=1", "Last-Event-ID", "5")
	var rest []uint64
	last := ""
	for {
		ev, ok := second.next()
		if !ok {
			break
		}
		d := second.check(ev, id)
		rest = append(rest, d.Seq)
		last = ev.Event
	}
	if last != "execution_completed" {
		t.Fatalf("stream ended after %q, want execution_completed", last)
	}
	snap := httpWaitStatus(t, ts, adminToken, id, "completed")
	var want []uint64
	for s := uint64(6); s <= snap.LastSeq; s++ {
		want = append(want, s)
	}
	if !slices.Equal(rest, want) {
		t.Fatalf("resumed stream carried seqs %v, want exactly %v", rest, want)
	}

	// Resuming after the terminal event: 204, which stops EventSource.
	third := openSSE(t, ts, readerToken, id, "", "Last-Event-ID", strconv.FormatUint(snap.LastSeq, 10))
	if third.resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume after the end: %d, want 204", third.resp.StatusCode)
	}
	// A bad Last-Event-ID is refused before streaming.
	httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events", readerToken, nil,
		"Accept", "text/event-stream", "Last-Event-ID", "five").expectError(t, 400, "INVALID_REQUEST")
}

// TestSSEHeartbeatAndShutdown: an idle stream gets comment lines, and a
// server shutdown ends open streams instead of waiting for them.
func TestSSEHeartbeatAndShutdown(t *testing.T) {
	ts := startHTTPServer(t, func(c *server.Config) { c.HTTP.Heartbeat = 30 * time.Millisecond })
	id := httpStart(t, ts, adminToken, "approval", map[string]any{})
	s := openSSE(t, ts, adminToken, id, "")
	for {
		ev, ok := s.next()
		if !ok {
			t.Fatal("stream ended early")
		}
		if ev.Event == "signal_waiting" {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	// Heartbeats are only counted when a read passes them: send the signal
	// so one more event arrives after them.
	httpDo(t, ts, "POST", "/api/v1/executions/"+id+"/signals/approve", adminToken, map[string]any{"ok": true}).expectStatus(t, http.StatusOK)
	if _, ok := s.next(); !ok {
		t.Fatal("stream ended before signal_received")
	}
	if s.comments < 3 {
		t.Errorf("%d comment lines in 200 ms with a 30 ms heartbeat", s.comments)
	}
	httpWaitStatus(t, ts, adminToken, id, "completed")

	// A stream on an execution that waits forever does not hold up shutdown.
	waiting := httpStart(t, ts, adminToken, "approval", map[string]any{})
	open := openSSE(t, ts, adminToken, waiting, "")
	if _, ok := open.next(); !ok {
		t.Fatal("no first event")
	}
	begin := time.Now()
	ts.stop(t)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("shutdown took %s with an open SSE stream", d)
	}
	for {
		if _, ok := open.next(); !ok {
			break // ended by the shutdown
		}
	}
}

func TestHTTPCancelAndSignal(t *testing.T) {
	ts := startServer(t, "")
	id := httpStart(t, ts, adminToken, "countdown", map[string]any{"steps": 50, "delay_ms": 50})
	r := httpDo(t, ts, "POST", "/api/v1/executions/"+id+"/cancel", adminToken, map[string]any{"reason": "changed my mind"})
	r.expectStatus(t, http.StatusOK)
	if got := decode[map[string]string](t, r.body)["status"]; got != "cancelling" {
		t.Fatalf("cancel answered %s", r.body)
	}
	httpWaitStatus(t, ts, adminToken, id, "cancelled")
	lines := parseLines(t, httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events", adminToken, nil).body)
	last := lines[len(lines)-1]
	if last.Type != "execution_cancelled" || !strings.Contains(string(last.Data.Details), "changed my mind") {
		t.Fatalf("last event %+v", last)
	}
	// Cancelling again is a no-op answering the status; no body is fine.
	r = httpDo(t, ts, "POST", "/api/v1/executions/"+id+"/cancel", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	if got := decode[map[string]string](t, r.body)["status"]; got != "cancelled" {
		t.Fatalf("second cancel answered %s", r.body)
	}

	ap := httpStart(t, ts, adminToken, "approval", map[string]any{})
	r = httpDo(t, ts, "POST", "/api/v1/executions/"+ap+"/signals/approve", adminToken, "{\n  \"by\": \"carol\"\n}")
	r.expectStatus(t, http.StatusOK)
	if !sameJSONValue(r.body, `{"delivered":true}`) {
		t.Fatalf("signal answered %s", r.body)
	}
	snap := httpWaitStatus(t, ts, adminToken, ap, "completed")
	if !sameJSONValue(snap.Result, `{"by":"carol"}`) {
		t.Fatalf("approval result %s", snap.Result)
	}
	r = httpDo(t, ts, "POST", "/api/v1/executions/"+ap+"/signals/approve", adminToken, `true`)
	if !sameJSONValue(r.body, `{"delivered":false,"status":"completed"}`) {
		t.Fatalf("signal after the end answered %s", r.body)
	}
}

// TestHTTPIdempotencyKey: 202, then 200 with the same id for the same
// parameters (another spelling), 409 for others; the key does not cross
// workspaces.
func TestHTTPIdempotencyKey(t *testing.T) {
	ts := startServer(t, "")
	start := func(token, body string) httpResult {
		return httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", token, body, "Idempotency-Key", "order-7")
	}
	first := start(adminToken, `{"parameters":{"x":1,"y":2}}`)
	first.expectStatus(t, http.StatusAccepted)
	id := decode[execSnapshot](t, first.body).ExecutionID

	again := start(adminToken, `{"parameters":{"y":2,"x":1}}`)
	again.expectStatus(t, http.StatusOK)
	if got := decode[execSnapshot](t, again.body).ExecutionID; got != id {
		t.Fatalf("same key answered %s, want %s", got, id)
	}
	if loc := again.header.Get("Location"); loc != "/api/v1/executions/"+id {
		t.Errorf("Location %q", loc)
	}
	start(adminToken, `{"parameters":{"x":2}}`).expectError(t, http.StatusConflict, "CONFLICT")

	theirs := start(otherToken, `{"parameters":{"x":1,"y":2}}`)
	theirs.expectStatus(t, http.StatusAccepted)
	if got := decode[execSnapshot](t, theirs.body).ExecutionID; got == id {
		t.Fatal("another workspace's start with the same key got acme's execution")
	}
	list := decode[struct {
		Items []execSnapshot `json:"items"`
	}](t, httpDo(t, ts, "GET", "/api/v1/executions", adminToken, nil).body)
	if len(list.Items) != 1 || list.Items[0].ExecutionID != id {
		t.Fatalf("acme holds %+v, want only %s", list.Items, id)
	}
}

// TestHTTPJWTExpiry: a JWT works until its exp, then is refused like a
// wrong token; expired and malformed ones are refused.
func TestHTTPJWTExpiry(t *testing.T) {
	ts := startServer(t, "")
	claims := func(exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"sub": "jay", "workspace": "acme", "scopes": []string{"workflows:read"}, "exp": exp.Unix()}
	}
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	short := authMintJWT(t, jwtSecret, claims(exp))
	httpDo(t, ts, "GET", "/api/v1/workflows", short, nil).expectStatus(t, http.StatusOK)

	expired := authMintJWT(t, jwtSecret, claims(time.Now().Add(-time.Minute)))
	r := httpDo(t, ts, "GET", "/api/v1/workflows", expired, nil)
	r.expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	forged := authMintJWT(t, "another-secret", claims(exp))
	httpDo(t, ts, "GET", "/api/v1/workflows", forged, nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	httpDo(t, ts, "GET", "/api/v1/workflows", "a.b.c", nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	noExp := authMintJWT(t, jwtSecret, jwt.MapClaims{"sub": "jay", "workspace": "acme", "scopes": []string{"workflows:read"}})
	httpDo(t, ts, "GET", "/api/v1/workflows", noExp, nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")

	time.Sleep(time.Until(exp) + 1100*time.Millisecond)
	r = httpDo(t, ts, "GET", "/api/v1/workflows", short, nil)
	r.expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	if strings.Contains(string(r.body), short) {
		t.Error("the error echoes the token")
	}
}

// TestHTTPTokenOnlyFromBearerHeader: ?token= is a socket-upgrade
// convenience; the HTTP API does not take it.
func TestHTTPTokenOnlyFromBearerHeader(t *testing.T) {
	ts := startServer(t, "")
	httpDo(t, ts, "GET", "/api/v1/workflows?token="+adminToken, "", nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	httpDo(t, ts, "GET", "/api/v1/workflows", "", nil, "Authorization", "Basic "+adminToken).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	httpDo(t, ts, "GET", "/api/v1/workflows", "", nil, "Authorization", "bearer "+adminToken).expectStatus(t, http.StatusOK)
}

func TestHealthReadyAndDocuments(t *testing.T) {
	ts := startServer(t, "")
	for path, want := range map[string]string{"/healthz": `{"status":"ok"}`, "/readyz": `{"status":"ready"}`} {
		r := httpDo(t, ts, "GET", path, "", nil)
		r.expectStatus(t, http.StatusOK)
		if !sameJSONValue(r.body, want) {
			t.Errorf("%s: %s", path, r.body)
		}
	}
	for path, ct := range map[string]string{
		"/api/v1/openapi.json":  "application/json",
		"/api/v1/openapi.yaml":  "application/yaml",
		"/api/v1/asyncapi.yaml": "application/yaml",
	} {
		r := httpDo(t, ts, "GET", path, "", nil)
		r.expectStatus(t, http.StatusOK)
		if r.header.Get("Content-Type") != ct || len(r.body) < 1000 {
			t.Errorf("%s: %q, %d bytes", path, r.header.Get("Content-Type"), len(r.body))
		}
	}
	addr := ts.Addr()
	ts.stop(t)
	if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("/readyz is 200 after shutdown")
		}
	}
}

func TestMetricsToken(t *testing.T) {
	ts := startHTTPServer(t, func(c *server.Config) { c.MetricsToken = "scrape-me" })
	httpDo(t, ts, "GET", "/metrics", "", nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	httpDo(t, ts, "GET", "/metrics", adminToken, nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	r := httpDo(t, ts, "GET", "/metrics", "scrape-me", nil)
	r.expectStatus(t, http.StatusOK)
	if !strings.Contains(string(r.body), "weft_connections_total") {
		t.Fatalf("metrics body lacks weft_connections_total")
	}
	// The metrics token is not an API token.
	httpDo(t, ts, "GET", "/api/v1/workflows", "scrape-me", nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	// Without one configured, /metrics is open.
	open := startServer(t, "")
	httpDo(t, open, "GET", "/metrics", "", nil).expectStatus(t, http.StatusOK)
}

// TestReloadKeys rewrites the keys file: after ReloadKeys a new token works
// and a removed one is refused on both surfaces; a broken file keeps the
// previous keys.
func TestReloadKeys(t *testing.T) {
	ts := startServer(t, "")
	keysFile := filepath.Join(ts.dir, "test-keys.json")
	httpDo(t, ts, "GET", "/api/v1/workflows", readerToken, nil).expectError(t, http.StatusForbidden, "FORBIDDEN")
	held := dial(t, ts, adminToken) // authenticated before the reload

	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(keysFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"keys":[
 {"token":"tok-new","identity":"nina","workspace":"acme","scopes":["workflows:read"]},
 {"token":"tok-reader","identity":"rita","workspace":"acme","scopes":["executions:read","workflows:read"]}
]}`)
	httpDo(t, ts, "GET", "/api/v1/workflows", "tok-new", nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	if err := ts.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	httpDo(t, ts, "GET", "/api/v1/workflows", "tok-new", nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", "/api/v1/workflows", readerToken, nil).expectStatus(t, http.StatusOK) // scopes changed too
	httpDo(t, ts, "GET", "/api/v1/workflows", adminToken, nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	_, resp, err := authDial(t, ts.url("/api/v1/socket"), http.Header{"Authorization": {"Bearer " + adminToken}}, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("removed token at upgrade: %v %v", err, resp)
	}
	dial(t, ts, "tok-new")
	// A connection authenticated before the reload keeps its identity.
	authExpectPing(t, held)

	write(`{"keys":[{"token":"tok-broken"`)
	if err := ts.ReloadKeys(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	httpDo(t, ts, "GET", "/api/v1/workflows", "tok-new", nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", "/api/v1/workflows", "tok-broken", nil).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
}

// TestHTTPLocationIsFetchable: the Location of a start is the execution's
// URL, as the README's curl examples use it.
func TestHTTPLocationIsFetchable(t *testing.T) {
	ts := startServer(t, "")
	r := httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken, `{"parameters":{"a":1}}`)
	r.expectStatus(t, http.StatusAccepted)
	loc := r.header.Get("Location")
	got := httpDo(t, ts, "GET", loc, adminToken, nil)
	got.expectStatus(t, http.StatusOK)
	if want := fmt.Sprintf(`"execution_id":%q`, decode[execSnapshot](t, r.body).ExecutionID); !strings.Contains(string(got.body), want) {
		t.Fatalf("GET %s: %s", loc, got.body)
	}
}
