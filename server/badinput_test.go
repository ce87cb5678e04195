package server_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// badRead reads the next frame and also returns its raw bytes, so the
// presence of fields (not only their Go zero value) can be checked.
func badRead(t testing.TB, c *client) (frame, []byte) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return f, data
}

// badFinal reads frames until the final one of request id (complete or an
// error) and returns it with its raw bytes.
func badFinal(t testing.TB, c *client, id string) (frame, []byte) {
	t.Helper()
	for {
		f, raw := badRead(t, c)
		if f.ID == id && (f.Complete || f.Error != nil) {
			return f, raw
		}
		if f.ID == "" && f.Error != nil {
			t.Fatalf("waiting for the answer to %q, got an error frame without id: %s", id, raw)
		}
	}
}

// badCall sends a request and returns its final frame with its raw bytes.
func badCall(t testing.TB, c *client, id, service string, req any) (frame, []byte) {
	t.Helper()
	env := map[string]any{"id": id, "service": service}
	if req != nil {
		env["request"] = req
	}
	c.send(env)
	return badFinal(t, c, id)
}

// badExpectError checks an error frame: its code, the id it answers ("" =
// none), a message, and "retryable":false present on the wire.
func badExpectError(t testing.TB, f frame, raw []byte, code, id string) {
	t.Helper()
	if f.Error == nil {
		t.Fatalf("frame %s, want error %s", raw, code)
	}
	if got, want := f.Error.Code, code; got != want {
		t.Errorf("error code = %q, want %q (frame %s)", got, want, raw)
	}
	if got, want := f.ID, id; got != want {
		t.Errorf("error frame id = %q, want %q (frame %s)", got, want, raw)
	}
	if f.Error.Message == "" {
		t.Errorf("error message empty (frame %s)", raw)
	}
	var wire struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatalf("frame %s: %v", raw, err)
	}
	if got, ok := wire.Error["retryable"]; !ok || string(got) != "false" {
		t.Errorf("error retryable = %s (present %v), want false (frame %s)", got, ok, raw)
	}
	if f.Response != nil || f.Complete {
		t.Errorf("error frame also carries a response or complete:true: %s", raw)
	}
}

// badExpectPong sends {"type":"ping"} and expects the pong push next, with
// a timestamp: the connection is still usable.
func badExpectPong(t testing.TB, c *client) {
	t.Helper()
	c.send(map[string]string{"type": "ping"})
	f, raw := badRead(t, c)
	if got, want := f.Type, "pong"; got != want {
		t.Fatalf("after bad input, ping answered %s, want type %q", raw, want)
	}
	d := decode[struct {
		Timestamp string `json:"timestamp"`
	}](t, f.Data)
	ts, err := time.Parse(time.RFC3339Nano, d.Timestamp)
	if err != nil {
		t.Fatalf("pong timestamp %q: %v", d.Timestamp, err)
	}
	if skew := time.Since(ts); skew < -time.Minute || skew > time.Minute {
		t.Fatalf("pong timestamp %s is %v away from now", ts, skew)
	}
}

// badExpectPingService calls the ping service and expects {"pong":true}.
func badExpectPingService(t testing.TB, c *client, id string) {
	t.Helper()
	f, raw := badCall(t, c, id, "ping", nil)
	if f.Error != nil || !f.Complete {
		t.Fatalf("ping service answered %s, want a complete response", raw)
	}
	if got := decode[map[string]any](t, f.Response); got["pong"] != true || len(got) != 1 {
		t.Fatalf("ping service response = %s, want {\"pong\":true}", f.Response)
	}
}

// badListExecutions returns the ids of every execution the token's
// workspace shows, newest first.
func badListExecutions(t testing.TB, c *client, id string) []string {
	t.Helper()
	f, raw := badCall(t, c, id, "executions.list", map[string]any{"limit": 1000})
	if f.Error != nil {
		t.Fatalf("executions.list: %s", raw)
	}
	list := decode[struct {
		Items []struct {
			ExecutionID string `json:"execution_id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}](t, f.Response)
	if list.NextCursor != "" {
		t.Fatalf("executions.list paginated below its limit: %s", raw)
	}
	ids := make([]string, 0, len(list.Items))
	for _, it := range list.Items {
		ids = append(ids, it.ExecutionID)
	}
	return ids
}

// badStartNoSubscribe starts a workflow with subscribe:false and returns
// the execution id.
func badStartNoSubscribe(t testing.TB, c *client, id, name string, params any) string {
	t.Helper()
	f, raw := badCall(t, c, id, "workflow.start", map[string]any{"name": name, "parameters": params, "subscribe": false})
	if f.Error != nil || !f.Complete {
		t.Fatalf("start %s: %s", name, raw)
	}
	res := decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, f.Response)
	if res.ExecutionID == "" {
		t.Fatalf("start %s: no execution_id in %s", name, raw)
	}
	return res.ExecutionID
}

func TestBadFramesGetInvalidRequestAndConnectionStaysUsable(t *testing.T) {
	ts := startServer(t, "")
	conn := dial(t, ts, adminToken).conn
	long := strings.Repeat("x", 129)
	cases := []struct {
		name  string
		frame string
		code  string
		id    string
		anyID bool // the id of the answer is not checked
	}{
		{name: "not_json", frame: `{oops`, code: "INVALID_REQUEST"},
		{name: "json_array", frame: `[{"id":"a1","service":"ping"}]`, code: "INVALID_REQUEST"},
		{name: "json_string", frame: `"ping"`, code: "INVALID_REQUEST"},
		{name: "json_number", frame: `42`, code: "INVALID_REQUEST"},
		{name: "empty_object", frame: `{}`, code: "INVALID_REQUEST"},
		{name: "missing_id", frame: `{"service":"ping"}`, code: "INVALID_REQUEST"},
		{name: "empty_id", frame: `{"id":"","service":"ping"}`, code: "INVALID_REQUEST"},
		{name: "id_too_long", frame: `{"id":"` + long + `","service":"ping"}`, code: "INVALID_REQUEST", anyID: true},
		{name: "id_number", frame: `{"id":5,"service":"ping"}`, code: "INVALID_REQUEST"},
		{name: "id_object", frame: `{"id":{"x":1},"service":"ping"}`, code: "INVALID_REQUEST"},
		{name: "missing_service", frame: `{"id":"ms1","request":{}}`, code: "INVALID_REQUEST", id: "ms1"},
		{name: "service_not_string", frame: `{"id":"sn1","service":5}`, code: "INVALID_REQUEST", id: "sn1"},
		{name: "unknown_service", frame: `{"id":"us1","service":"no.such.service"}`, code: "UNKNOWN_SERVICE", id: "us1"},
		{name: "request_not_object", frame: `{"id":"rn1","service":"ping","request":[1]}`, code: "INVALID_REQUEST", id: "rn1"},
		{name: "flow_not_string", frame: `{"id":"fl1","service":"execution.get","flow":7}`, code: "INVALID_REQUEST", id: "fl1"},
		{name: "unknown_frame_type", frame: `{"type":"bogus"}`, code: "INVALID_REQUEST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, conn: conn}
			c.send(tc.frame)
			f, raw := badRead(t, c)
			id := tc.id
			if tc.anyID {
				id = f.ID
			}
			badExpectError(t, f, raw, tc.code, id)
			badExpectPong(t, c)
		})
	}
	t.Run("id_of_128_chars_is_accepted", func(t *testing.T) {
		c := &client{t: t, conn: conn}
		badExpectPingService(t, c, strings.Repeat("y", 128))
	})
	// PROTOCOL section 3 counts the id in characters, not bytes.
	t.Run("id_of_128_multibyte_chars_is_accepted", func(t *testing.T) {
		c := &client{t: t, conn: conn}
		badExpectPingService(t, c, strings.Repeat("é", 128))
	})
	t.Run("id_of_129_multibyte_chars_is_refused", func(t *testing.T) {
		c := &client{t: t, conn: conn}
		c.send(map[string]any{"id": strings.Repeat("é", 129), "service": "ping"})
		f, raw := badRead(t, c)
		if f.Error == nil {
			t.Fatalf("129-character id answered %s, want INVALID_REQUEST", raw)
		}
		badExpectError(t, f, raw, "INVALID_REQUEST", f.ID)
		badExpectPong(t, c)
	})
}

func TestBadRequestsGetProtocolCodesAndNothingIsPersisted(t *testing.T) {
	ts := startServer(t, "")
	conn := dial(t, ts, adminToken).conn
	setup := &client{t: t, conn: conn}

	// Executions successfully started in this test, in order.
	started := []string{badStartNoSubscribe(t, setup, "ok1", "echo", map[string]any{"k": 1})}

	cases := []struct {
		name    string
		service string
		req     any
		code    string
	}{
		{name: "start_no_name", service: "workflow.start", req: map[string]any{"parameters": map[string]any{}}, code: "INVALID_REQUEST"},
		{name: "start_empty_request", service: "workflow.start", req: nil, code: "INVALID_REQUEST"},
		{name: "start_name_not_string", service: "workflow.start", req: map[string]any{"name": 5}, code: "INVALID_REQUEST"},
		{name: "start_unknown_workflow", service: "workflow.start", req: map[string]any{"name": "no-such-workflow"}, code: "WORKFLOW_NOT_FOUND"},
		{name: "start_parameters_array", service: "workflow.start", req: json.RawMessage(`{"name":"echo","parameters":[1]}`), code: "INVALID_REQUEST"},
		{name: "start_parameters_string", service: "workflow.start", req: json.RawMessage(`{"name":"echo","parameters":"x"}`), code: "INVALID_REQUEST"},
		{name: "start_metadata_array", service: "workflow.start", req: json.RawMessage(`{"name":"echo","parameters":{},"metadata":[1]}`), code: "INVALID_REQUEST"},
		{name: "countdown_steps_wrong_type", service: "workflow.start", req: json.RawMessage(`{"name":"countdown","parameters":{"steps":"x","delay_ms":1}}`), code: "INVALID_REQUEST"},
		{name: "countdown_wrong_type_no_subscribe", service: "workflow.start", req: json.RawMessage(`{"name":"countdown","parameters":{"steps":"x"},"subscribe":false}`), code: "INVALID_REQUEST"},
		{name: "get_unknown", service: "execution.get", req: map[string]any{"execution_id": "exec_doesnotexist"}, code: "EXECUTION_NOT_FOUND"},
		{name: "get_no_execution_id", service: "execution.get", req: map[string]any{}, code: "INVALID_REQUEST"},
		{name: "get_execution_id_not_string", service: "execution.get", req: map[string]any{"execution_id": 5}, code: "INVALID_REQUEST"},
		{name: "subscribe_unknown", service: "execution.subscribe", req: map[string]any{"execution_id": "exec_doesnotexist"}, code: "EXECUTION_NOT_FOUND"},
		{name: "subscribe_no_execution_id", service: "execution.subscribe", req: map[string]any{}, code: "INVALID_REQUEST"},
		{name: "list_limit_5000", service: "executions.list", req: map[string]any{"limit": 5000}, code: "INVALID_REQUEST"},
		{name: "list_limit_negative", service: "executions.list", req: map[string]any{"limit": -1}, code: "INVALID_REQUEST"},
		{name: "list_limit_not_number", service: "executions.list", req: map[string]any{"limit": "ten"}, code: "INVALID_REQUEST"},
		{name: "list_status_bogus", service: "executions.list", req: map[string]any{"status": "bogus"}, code: "INVALID_REQUEST"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, conn: conn}
			id := "bad-" + tc.name
			f, raw := badCall(t, c, id, tc.service, tc.req)
			badExpectError(t, f, raw, tc.code, id)
			if i%2 == 0 {
				badExpectPong(t, c)
			} else {
				badExpectPingService(t, c, "ping-"+tc.name)
			}
		})
	}

	started = append(started, badStartNoSubscribe(t, setup, "ok2", "countdown", map[string]any{"steps": 1, "delay_ms": 1}))

	t.Run("only_successful_starts_persisted", func(t *testing.T) {
		c := &client{t: t, conn: conn}
		got := badListExecutions(t, c, "list-all")
		want := slices.Clone(started)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("executions after %d bad requests = %q, want exactly the %d started: %q", len(cases), got, len(want), want)
		}
	})
}

func TestScopeIsEnforced(t *testing.T) {
	ts := startServer(t, "")
	reader := dial(t, ts, readerToken)
	cases := []struct {
		name    string
		service string
		req     any
	}{
		{name: "workflow.start", service: "workflow.start", req: map[string]any{"name": "echo", "parameters": map[string]any{}}},
		{name: "workflow.start_unknown_workflow", service: "workflow.start", req: map[string]any{"name": "no-such-workflow"}},
		{name: "workflow.list", service: "workflow.list", req: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, conn: reader.conn}
			id := "forbidden-" + tc.name
			f, raw := badCall(t, c, id, tc.service, tc.req)
			badExpectError(t, f, raw, "FORBIDDEN", id)
			badExpectPong(t, c)
		})
	}
	t.Run("reader_may_read", func(t *testing.T) {
		c := &client{t: t, conn: reader.conn}
		if got := badListExecutions(t, c, "reader-list"); len(got) != 0 {
			t.Fatalf("forbidden starts left executions behind: %q", got)
		}
		badExpectPingService(t, c, "reader-ping")
	})
}

func TestWorkspaceIsolation(t *testing.T) {
	ts := startServer(t, "")
	admin := dial(t, ts, adminToken)
	other := dial(t, ts, otherToken)
	reader := dial(t, ts, readerToken)

	// The admin of acme starts an execution and waits for it to end.
	admin.request("own", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"secret": "acme"}})
	frames := admin.readUntilComplete("own")
	if last := frames[len(frames)-1]; last.Type != "execution_completed" {
		t.Fatalf("acme execution ended with %+v", last)
	}
	execID := decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, frames[0].Response).ExecutionID
	// globex starts one of its own, so its list is not trivially empty.
	otherExec := badStartNoSubscribe(t, other, "theirs", "echo", map[string]any{"secret": "globex"})

	t.Run("same_workspace_sees_it", func(t *testing.T) {
		c := &client{t: t, conn: reader.conn}
		f, raw := badCall(t, c, "get", "execution.get", map[string]any{"execution_id": execID})
		if f.Error != nil {
			t.Fatalf("reader of acme cannot get the acme execution: %s", raw)
		}
		if got := decode[struct {
			ExecutionID string `json:"execution_id"`
		}](t, f.Response).ExecutionID; got != execID {
			t.Fatalf("execution.get returned %q, want %q", got, execID)
		}
		if got := badListExecutions(t, c, "list"); !slices.Contains(got, execID) || slices.Contains(got, otherExec) {
			t.Fatalf("acme list = %q, want %s and not globex's %s", got, execID, otherExec)
		}
	})

	cases := []struct {
		name    string
		service string
	}{
		{name: "execution.get", service: "execution.get"},
		{name: "execution.subscribe", service: "execution.subscribe"},
	}
	for _, tc := range cases {
		t.Run("other_workspace/"+tc.name, func(t *testing.T) {
			c := &client{t: t, conn: other.conn}
			id := "iso-" + tc.name
			f, raw := badCall(t, c, id, tc.service, map[string]any{"execution_id": execID})
			badExpectError(t, f, raw, "EXECUTION_NOT_FOUND", id)
			badExpectPong(t, c)
		})
		t.Run("other_workspace/"+tc.name+"_via_flow", func(t *testing.T) {
			c := &client{t: t, conn: other.conn}
			id := "iso-flow-" + tc.name
			c.send(map[string]any{"id": id, "service": tc.service, "flow": execID})
			f, raw := badFinal(t, c, id)
			badExpectError(t, f, raw, "EXECUTION_NOT_FOUND", id)
		})
	}
	t.Run("other_workspace/executions.list", func(t *testing.T) {
		c := &client{t: t, conn: other.conn}
		got := badListExecutions(t, c, "iso-list")
		if want := []string{otherExec}; !slices.Equal(got, want) {
			t.Fatalf("globex list = %q, want %q (acme's %s must be absent)", got, want, execID)
		}
	})
}

func TestDuplicateRequestID(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	c.request("dup", "workflow.start", map[string]any{"name": "countdown", "parameters": map[string]any{"steps": 3, "delay_ms": 200}})
	c.request("dup", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"second": true}})

	var stream []frame
	var dupErrs int
	for {
		f, raw := badRead(t, c)
		if f.ID != "dup" {
			t.Fatalf("unexpected frame %s", raw)
		}
		if f.Error != nil {
			dupErrs++
			badExpectError(t, f, raw, "DUPLICATE_REQUEST_ID", "dup")
			continue
		}
		stream = append(stream, f)
		if f.Complete {
			break
		}
	}
	if got, want := dupErrs, 1; got != want {
		t.Fatalf("got %d DUPLICATE_REQUEST_ID errors, want %d", got, want)
	}
	if len(stream) == 0 || stream[0].Response == nil {
		t.Fatalf("first stream did not start with a response: %+v", stream)
	}
	first := decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, stream[0].Response).ExecutionID
	got := eventTypes(stream)
	want := "execution_started,workflow_start,task_start,task_end,task_start,task_end,task_start,task_end,workflow_end,execution_completed"
	if got != want {
		t.Fatalf("first stream events = %s\nwant                  %s", got, want)
	}
	checkSeqs(t, stream, 1)
	for _, f := range stream[1:] {
		if id := f.event(t).ExecutionID; id != first {
			t.Fatalf("stream carries execution %s, want only %s", id, first)
		}
	}

	// The duplicate started nothing.
	if got, want := badListExecutions(t, c, "list1"), []string{first}; !slices.Equal(got, want) {
		t.Fatalf("executions after the duplicate = %q, want %q", got, want)
	}

	// Once the stream has ended, "dup" may be used again.
	c.request("dup", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"again": true}})
	again := c.readUntilComplete("dup")
	last := again[len(again)-1]
	if last.Error != nil || last.Type != "execution_completed" {
		t.Fatalf("reused id ended with %+v (error %+v)", last, last.Error)
	}
	second := last.event(t).ExecutionID
	if second == first || second == "" {
		t.Fatalf("reused id ran execution %q, want a new one (first %q)", second, first)
	}
	if got := badListExecutions(t, c, "list2"); len(got) != 2 || !slices.Contains(got, first) || !slices.Contains(got, second) {
		t.Fatalf("executions = %q, want %s and %s", got, first, second)
	}
	badExpectPingService(t, c, "dup")
}

func TestShorthandStartFrame(t *testing.T) {
	ts := startServer(t, "")
	h := map[string][]string{"Authorization": {"Bearer " + adminToken}}
	c := dialRaw(t, ts.url("/api/v1/socket"), h)
	hello := c.read()
	if hello.Type != "connected" {
		t.Fatalf("first frame = %+v, want connected", hello)
	}
	connID := decode[struct {
		ConnectionID string `json:"connection_id"`
	}](t, hello.Data).ConnectionID

	c.send(map[string]any{"name": "echo", "parameters": map[string]any{"a": 1}, "metadata": map[string]any{}, "connection_id": connID})
	f, raw := badRead(t, c)
	if f.Error != nil || f.Response == nil || f.Complete {
		t.Fatalf("first answer to the shorthand = %s, want a response with complete:false", raw)
	}
	res := decode[struct {
		ExecutionID string `json:"execution_id"`
		Status      string `json:"status"`
	}](t, f.Response)
	if res.ExecutionID == "" {
		t.Fatalf("no execution_id in %s", raw)
	}
	if got, want := f.ID, res.ExecutionID; got != want {
		t.Fatalf("response id = %q, want the execution id %q", got, want)
	}
	frames := append([]frame{f}, c.readUntilComplete(res.ExecutionID)...)
	for _, fr := range frames[1:] {
		if got, want := fr.ID, res.ExecutionID; got != want {
			t.Fatalf("%s frame id = %q, want %q", fr.Type, got, want)
		}
		if got, want := fr.event(t).ExecutionID, res.ExecutionID; got != want {
			t.Fatalf("%s data.execution_id = %q, want %q", fr.Type, got, want)
		}
	}
	if got, want := eventTypes(frames), "execution_started,workflow_start,task_start,task_end,workflow_end,execution_completed"; got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	checkSeqs(t, frames, 1)
	last := frames[len(frames)-1]
	if !last.Complete {
		t.Fatal("terminal event lacks complete:true")
	}
	end := decode[struct {
		Result map[string]any `json:"result"`
	}](t, last.event(t).Details)
	if got, want := end.Result["a"], float64(1); got != want || len(end.Result) != 1 {
		t.Fatalf("result = %v, want {\"a\":1}", end.Result)
	}

	// The execution is a normal one: it shows up in the list and snapshot.
	g, graw := badCall(t, c, "get", "execution.get", map[string]any{"execution_id": res.ExecutionID})
	if g.Error != nil {
		t.Fatalf("execution.get of the shorthand execution: %s", graw)
	}
	snap := decode[struct {
		Status   string `json:"status"`
		Workflow string `json:"workflow"`
	}](t, g.Response)
	if snap.Status != "completed" || snap.Workflow != "echo" {
		t.Fatalf("snapshot = %s, want a completed echo", g.Response)
	}
	badExpectPong(t, c)
}

func TestPingServerInfoAndWorkflowList(t *testing.T) {
	ts := startServer(t, "")
	admin := dial(t, ts, adminToken)
	reader := dial(t, ts, readerToken)

	t.Run("ping_push", func(t *testing.T) {
		badExpectPong(t, &client{t: t, conn: admin.conn})
	})
	t.Run("ping_service_needs_no_scope", func(t *testing.T) {
		badExpectPingService(t, &client{t: t, conn: reader.conn}, "p1")
	})

	t.Run("server.info", func(t *testing.T) {
		for name, conn := range map[string]*client{"admin": admin, "reader": reader} {
			c := &client{t: t, conn: conn.conn}
			f, raw := badCall(t, c, "info-"+name, "server.info", nil)
			if f.Error != nil || !f.Complete {
				t.Fatalf("%s: server.info = %s", name, raw)
			}
			info := decode[struct {
				Version  string `json:"version"`
				Protocol string `json:"protocol"`
				Limits   struct {
					MaxMessageBytes   float64 `json:"max_message_bytes"`
					MessagesPerSecond float64 `json:"messages_per_second"`
				} `json:"limits"`
			}](t, f.Response)
			if got, want := info.Protocol, "weft.v1"; got != want {
				t.Errorf("%s: protocol = %q, want %q", name, got, want)
			}
			if info.Version == "" {
				t.Errorf("%s: no version in %s", name, f.Response)
			}
			if got, want := info.Limits.MaxMessageBytes, float64(65536); got != want {
				t.Errorf("%s: limits.max_message_bytes = %v, want %v", name, got, want)
			}
			if got, want := info.Limits.MessagesPerSecond, float64(100); got != want {
				t.Errorf("%s: limits.messages_per_second = %v, want %v", name, got, want)
			}
		}
	})

	t.Run("workflow.list", func(t *testing.T) {
		c := &client{t: t, conn: admin.conn}
		f, raw := badCall(t, c, "wl", "workflow.list", nil)
		if f.Error != nil || !f.Complete {
			t.Fatalf("workflow.list = %s", raw)
		}
		var list struct {
			Workflows []struct {
				Name             string          `json:"name"`
				Description      string          `json:"description"`
				ParametersSchema json.RawMessage `json:"parameters_schema"`
			} `json:"workflows"`
		}
		if err := json.Unmarshal(f.Response, &list); err != nil {
			t.Fatalf("workflow.list response %s is not {\"workflows\":[...]}: %v", f.Response, err)
		}
		byName := map[string]map[string]any{}
		for _, w := range list.Workflows {
			var schema map[string]any
			if err := json.Unmarshal(w.ParametersSchema, &schema); err != nil || schema == nil {
				t.Errorf("%s: parameters_schema %s is not a JSON object", w.Name, w.ParametersSchema)
				continue
			}
			if w.Description == "" {
				t.Errorf("%s: empty description", w.Name)
			}
			byName[w.Name] = schema
		}
		for _, name := range []string{"echo", "search-candidates", "countdown"} {
			if _, ok := byName[name]; !ok {
				t.Errorf("workflow.list lacks %s: %s", name, f.Response)
			}
		}
		props, _ := byName["countdown"]["properties"].(map[string]any)
		for _, p := range []string{"steps", "delay_ms"} {
			if _, ok := props[p]; !ok {
				t.Errorf("countdown parameters_schema lacks property %s: %v", p, byName["countdown"])
			}
		}
	})
}
