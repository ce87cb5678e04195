package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics in the Prometheus text format.
func scrape(t *testing.T, ts *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := httpDo(t, ts, "GET", "/metrics", "", nil, "Accept", "text/plain; version=0.0.4")
	r.expectStatus(t, http.StatusOK)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue is the sum of the series of name whose labels include
// labels: a counter's or gauge's value, a histogram's sample count. A
// series not exported yet is 0 (a labelled family shows no series before
// its first one).
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		return 0
	}
	sum := 0.0
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch fam.GetType() {
		case dto.MetricType_COUNTER:
			sum += m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			sum += m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			sum += float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s: unexpected type %v", name, fam.GetType())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// countingClient wraps a socket and counts the frames each way.
type countingClient struct {
	*client
	sent, received int
}

func (c *countingClient) call(id, service string, req any) []frame {
	c.t.Helper()
	c.request(id, service, req)
	c.sent++
	var out []frame
	for {
		f := c.read()
		c.received++
		if f.ID != id {
			continue
		}
		out = append(out, f)
		if f.Complete || f.Error != nil {
			return out
		}
	}
}

// TestMetricsMoveWithAScriptedSession scrapes /metrics, runs a session
// (a refused connection; a socket that starts echo, a failing flaky, the
// search-candidates agent and a countdown it cancels, joins a room that
// gets a broadcast, then disconnects normally), scrapes again and compares
// the delta of each metric with what the session did.
func TestMetricsMoveWithAScriptedSession(t *testing.T) {
	ts := startServer(t, "")
	before := scrape(t, ts)

	// A refused upgrade.
	conn, resp, err := authDial(t, ts.url("/api/v1/socket"), http.Header{"Authorization": {"Bearer tok-nobody"}}, nil)
	authExpect401(t, conn, resp, err)

	c := &countingClient{client: dial(t, ts, adminToken)}
	c.received++ // the connected frame dial read
	start := func(id, workflow string, params any) (string, []frame) {
		frames := c.call(id, "workflow.start", map[string]any{"name": workflow, "parameters": params})
		return decode[execSnapshot](t, frames[0].Response).ExecutionID, frames
	}
	echo, frames := start("echo", "echo", map[string]any{"n": 1})
	if lastFrame(frames).Type != "execution_completed" {
		t.Fatalf("echo ended with %s", showFrame(lastFrame(frames)))
	}
	flaky, frames := start("flaky", "flaky", map[string]any{"fail_times": 11})
	if lastFrame(frames).Type != "execution_failed" {
		t.Fatalf("flaky ended with %s", showFrame(lastFrame(frames)))
	}
	search, frames := start("search", "search-candidates", map[string]any{"user_query": "go", "organization_id": "org_1"})
	if lastFrame(frames).Type != "execution_completed" {
		t.Fatalf("search-candidates ended with %s", showFrame(lastFrame(frames)))
	}

	cd := c.call("cd", "workflow.start", map[string]any{"name": "countdown", "parameters": map[string]any{"steps": 1000, "delay_ms": 20}, "subscribe": false})
	countdown := decode[execSnapshot](t, cd[0].Response).ExecutionID
	for getExecutionHTTP(t, ts, countdown).LastSeq < 6 {
		time.Sleep(10 * time.Millisecond)
	}
	if got := metricValue(t, scrape(t, ts), "weft_executions_running"); got < 1 {
		t.Errorf("weft_executions_running = %v while a countdown runs", got)
	}
	if f := lastFrame(c.call("cancel", "execution.cancel", map[string]any{"execution_id": countdown})); f.Error != nil {
		t.Fatalf("cancel: %s", showFrame(f))
	}
	httpWaitStatus(t, ts, adminToken, countdown, "cancelled")

	if f := lastFrame(c.call("join", "room.join", map[string]any{"room": "metrics", "presence": false})); f.Error != nil {
		t.Fatalf("join: %s", showFrame(f))
	}
	httpDo(t, ts, "POST", "/api/v1/rooms/metrics/broadcast", adminToken, map[string]any{"message": "hi"}).expectStatus(t, http.StatusOK)
	if f := c.read(); f.Type != "room.message" {
		t.Fatalf("member got %s, want room.message", showFrame(f))
	}
	c.received++

	// Disconnect normally, then wait for the server to notice.
	if err := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			break
		}
	}
	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = scrape(t, ts)
		if metricValue(t, after, "weft_connections_active") == metricValue(t, before, "weft_connections_active") &&
			metricValue(t, after, "weft_disconnects_total") > metricValue(t, before, "weft_disconnects_total") &&
			metricValue(t, after, "weft_executions_running") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the disconnect was not counted, or connections_active or executions_running did not come back down")
		}
		time.Sleep(10 * time.Millisecond)
	}

	for _, name := range []string{
		"weft_connections_total", "weft_connections_active", "weft_connections_rejected_total",
		"weft_disconnects_total", "weft_messages_received_total", "weft_messages_sent_total",
		"weft_broadcasts_total", "weft_broadcast_recipients_total",
		"weft_executions_started_total", "weft_executions_ended_total", "weft_executions_running",
		"weft_step_duration_seconds", "weft_store_commit_seconds", "weft_store_commit_writes",
		"weft_events_published_total",
	} {
		if _, ok := after[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	delta := func(name string, labels ...string) float64 {
		return metricValue(t, after, name, labels...) - metricValue(t, before, name, labels...)
	}
	expect := func(want float64, name string, labels ...string) {
		t.Helper()
		if got := delta(name, labels...); got != want {
			t.Errorf("%s%v moved by %v, want %v", name, labels, got, want)
		}
	}
	expect(1, "weft_connections_total")
	expect(0, "weft_connections_active")
	expect(1, "weft_connections_rejected_total", "reason", "unauthenticated")
	expect(1, "weft_connections_rejected_total")
	expect(1, "weft_disconnects_total", "code", "1000")
	expect(1, "weft_disconnects_total")
	expect(float64(c.sent), "weft_messages_received_total")
	expect(float64(c.received), "weft_messages_sent_total")
	expect(1, "weft_broadcasts_total")
	expect(1, "weft_broadcast_recipients_total")
	for wf, status := range map[string]string{"echo": "completed", "flaky": "failed", "search-candidates": "completed", "countdown": "cancelled"} {
		expect(1, "weft_executions_started_total", "workflow", wf)
		expect(1, "weft_executions_ended_total", "workflow", wf, "status", status)
	}
	expect(4, "weft_executions_started_total")
	expect(4, "weft_executions_ended_total")
	expect(0, "weft_executions_running")

	// Steps: one observation per completed step checkpoint, by kind.
	ids := []string{echo, flaky, search, countdown}
	steps := map[string]float64{}
	var events float64
	for _, id := range ids {
		snap := getExecutionHTTP(t, ts, id)
		events += float64(snap.LastSeq)
		for _, st := range snap.Steps {
			if st.State != "pending" && st.CompletedAt != "" {
				steps[st.Kind]++
			}
		}
	}
	for _, kind := range []string{"task", "llm", "tool"} {
		if steps[kind] == 0 {
			t.Errorf("the session completed no %s step: %v", kind, steps)
		}
	}
	for kind, n := range steps {
		expect(n, "weft_step_duration_seconds", "kind", kind)
	}
	// execution_started is stored with the execution record by the start
	// itself; every later event is published once the actor has it durable.
	expect(events-float64(len(ids)), "weft_events_published_total")
	if got := delta("weft_store_commit_seconds"); got < 1 {
		t.Errorf("weft_store_commit_seconds observed %v commits", got)
	}
	if got := delta("weft_store_commit_writes"); got != delta("weft_store_commit_seconds") {
		t.Errorf("commit writes observed %v times, commit latency %v", got, delta("weft_store_commit_seconds"))
	}
}

type stepSnapshot struct {
	Kind        string `json:"kind"`
	State       string `json:"state"`
	CompletedAt string `json:"completed_at"`
}

type fullSnapshot struct {
	execSnapshot
	Steps []stepSnapshot `json:"steps"`
}

func getExecutionHTTP(t *testing.T, ts *testServer, id string) fullSnapshot {
	t.Helper()
	r := httpDo(t, ts, "GET", "/api/v1/executions/"+id, adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	var s fullSnapshot
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}
