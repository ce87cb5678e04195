package server_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// Data lifecycle (issue 17): execution.delete on both surfaces, and
// retention removing ended executions in the background.

// endedEcho starts an echo over HTTP (with an idempotency key if key is not
// "") and waits until it has completed.
func endedEcho(t testing.TB, ts *testServer, token, key string) string {
	t.Helper()
	var header []string
	if key != "" {
		header = []string{"Idempotency-Key", key}
	}
	r := httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", token, map[string]any{"parameters": map[string]any{"a": 1}}, header...)
	r.expectStatus(t, http.StatusAccepted)
	id := decode[execSnapshot](t, r.body).ExecutionID
	httpWaitStatus(t, ts, token, id, "completed")
	return id
}

// expectGone checks that id is EXECUTION_NOT_FOUND on every read and write
// of both surfaces, and that lists leave it out.
func expectGone(t *testing.T, ts *testServer, id string) {
	t.Helper()
	for _, q := range []struct{ method, path string }{
		{"GET", "/api/v1/executions/" + id},
		{"GET", "/api/v1/executions/" + id + "/events"},
		{"POST", "/api/v1/executions/" + id + "/cancel"},
		{"POST", "/api/v1/executions/" + id + "/signals/approve"},
		{"DELETE", "/api/v1/executions/" + id},
	} {
		httpDo(t, ts, q.method, q.path, adminToken, nil).expectError(t, http.StatusNotFound, "EXECUTION_NOT_FOUND")
	}
	c := dial(t, ts, adminToken)
	defer c.conn.Close()
	for i, service := range []string{"execution.get", "execution.subscribe", "execution.cancel", "execution.replay", "execution.delete"} {
		f := c.call("r"+strconv.Itoa(i), service, map[string]any{"execution_id": id})
		if f.Error == nil || f.Error.Code != "EXECUTION_NOT_FOUND" {
			t.Fatalf("%s of a deleted execution answered %+v", service, f)
		}
	}
	if f := c.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "approve"}); f.Error == nil || f.Error.Code != "EXECUTION_NOT_FOUND" {
		t.Fatalf("execution.signal of a deleted execution answered %+v", f)
	}
	if f := c.call("ls", "executions.list", map[string]any{"limit": 1000}); strings.Contains(string(f.Response), id) {
		t.Fatalf("executions.list still lists %s", id)
	}
	if r := httpDo(t, ts, "GET", "/api/v1/executions?limit=1000&status=completed", adminToken, nil); strings.Contains(string(r.body), id) {
		t.Fatalf("GET /api/v1/executions?status=completed still lists %s", id)
	}
}

func TestDeleteExecutionOverSocketAndHTTP(t *testing.T) {
	ts := startServer(t, "")

	t.Run("socket", func(t *testing.T) {
		id := endedEcho(t, ts, adminToken, "")
		c := dial(t, ts, adminToken)
		defer c.conn.Close()
		if f := c.call("d", "execution.delete", map[string]any{"execution_id": id}); f.Error != nil || !sameJSONValue(f.Response, `{"deleted":true}`) {
			t.Fatalf("execution.delete answered %+v", f)
		}
		expectGone(t, ts, id)
	})

	t.Run("socket_flow", func(t *testing.T) {
		id := endedEcho(t, ts, adminToken, "")
		c := dial(t, ts, adminToken)
		defer c.conn.Close()
		c.send(map[string]any{"id": "d", "service": "execution.delete", "flow": id})
		if f := c.readUntilComplete("d"); f[len(f)-1].Error != nil {
			t.Fatalf("execution.delete with the id in flow answered %+v", f[len(f)-1])
		}
		expectGone(t, ts, id)
	})

	t.Run("http", func(t *testing.T) {
		id := endedEcho(t, ts, adminToken, "")
		r := httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, adminToken, nil)
		r.expectStatus(t, http.StatusOK)
		if !sameJSONValue(r.body, `{"deleted":true}`) {
			t.Fatalf("DELETE answered %s", r.body)
		}
		expectGone(t, ts, id)
	})

	t.Run("live_is_conflict", func(t *testing.T) {
		id := httpStart(t, ts, adminToken, "approval", map[string]any{})
		httpWaitStatus(t, ts, adminToken, id, "waiting")
		r := httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, adminToken, nil)
		r.expectError(t, http.StatusConflict, "CONFLICT")
		if !strings.Contains(string(r.body), "cancel it first") {
			t.Fatalf("CONFLICT does not say what to do: %s", r.body)
		}
		c := dial(t, ts, adminToken)
		defer c.conn.Close()
		if f := c.call("d", "execution.delete", map[string]any{"execution_id": id}); f.Error == nil || f.Error.Code != "CONFLICT" || f.Error.Retryable {
			t.Fatalf("socket delete of a waiting execution answered %+v", f)
		}
		httpWaitStatus(t, ts, adminToken, id, "waiting") // untouched
		// Cancelled, it can go.
		httpDo(t, ts, "POST", "/api/v1/executions/"+id+"/cancel", adminToken, nil).expectStatus(t, http.StatusOK)
		httpWaitStatus(t, ts, adminToken, id, "cancelled")
		httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, adminToken, nil).expectStatus(t, http.StatusOK)
		expectGone(t, ts, id)
	})

	t.Run("other_workspace_and_scope", func(t *testing.T) {
		id := endedEcho(t, ts, adminToken, "")
		httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, otherToken, nil).expectError(t, http.StatusNotFound, "EXECUTION_NOT_FOUND")
		httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, readerToken, nil).expectError(t, http.StatusForbidden, "FORBIDDEN")
		c := dial(t, ts, otherToken)
		defer c.conn.Close()
		if f := c.call("d", "execution.delete", map[string]any{"execution_id": id}); f.Error == nil || f.Error.Code != "EXECUTION_NOT_FOUND" {
			t.Fatalf("another workspace's delete answered %+v", f)
		}
		rc := dial(t, ts, readerToken)
		defer rc.conn.Close()
		if f := rc.call("d", "execution.delete", map[string]any{"execution_id": id}); f.Error == nil || f.Error.Code != "FORBIDDEN" {
			t.Fatalf("delete without executions:write answered %+v", f)
		}
		httpWaitStatus(t, ts, adminToken, id, "completed") // still there
	})

	t.Run("idempotency_key_freed", func(t *testing.T) {
		first := endedEcho(t, ts, adminToken, "lifecycle-key")
		// While it exists the key returns it (200, same id).
		r := httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken, map[string]any{"parameters": map[string]any{"a": 1}}, "Idempotency-Key", "lifecycle-key")
		r.expectStatus(t, http.StatusOK)
		if got := decode[execSnapshot](t, r.body).ExecutionID; got != first {
			t.Fatalf("the key returned %s, want %s", got, first)
		}
		httpDo(t, ts, "DELETE", "/api/v1/executions/"+first, adminToken, nil).expectStatus(t, http.StatusOK)
		second := endedEcho(t, ts, adminToken, "lifecycle-key") // 202: a new execution
		if second == first {
			t.Fatal("the removed execution's key returned it again")
		}
	})

	if got := deletedMetric(t, ts, "api"); got < 5 {
		t.Fatalf(`weft_executions_deleted_total{reason="api"} = %v, want at least 5`, got)
	}
}

// deletedMetric reads weft_executions_deleted_total{reason=...} from /metrics.
func deletedMetric(t testing.TB, ts *testServer, reason string) float64 {
	t.Helper()
	r := httpDo(t, ts, "GET", "/metrics", "", nil)
	m := regexp.MustCompile(`(?m)^weft_executions_deleted_total\{reason="` + reason + `"\} (\S+)$`).FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("/metrics has no weft_executions_deleted_total{reason=%q}", reason)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitGone polls until id is not found (removed by retention).
func waitGone(t testing.TB, ts *testServer, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := httpDo(t, ts, "GET", "/api/v1/executions/"+id, adminToken, nil)
		if r.status == http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there after %s: %s", id, within, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRetentionRemovesEndedExecutions(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.Retention = 300 * time.Millisecond })
	waiting := httpStart(t, ts, adminToken, "approval", map[string]any{})
	keyed := endedEcho(t, ts, adminToken, "retention-key")
	var ended []string
	for range 5 {
		ended = append(ended, endedEcho(t, ts, adminToken, ""))
	}
	ended = append(ended, keyed)
	other := endedEcho(t, ts, otherToken, "") // every workspace
	for _, id := range append(ended, other) {
		waitGone(t, ts, id, 10*time.Second)
	}
	expectGone(t, ts, keyed)
	// The live one is kept, however old.
	time.Sleep(500 * time.Millisecond)
	httpWaitStatus(t, ts, adminToken, waiting, "waiting")
	// The key is free again.
	again := endedEcho(t, ts, adminToken, "retention-key")
	if again == keyed {
		t.Fatal("the removed execution's idempotency key returned it")
	}
	if got := deletedMetric(t, ts, "retention"); got < float64(len(ended)+1) {
		t.Fatalf(`weft_executions_deleted_total{reason="retention"} = %v, want at least %d`, got, len(ended)+1)
	}
	// The waiting one ends: now it expires too.
	httpDo(t, ts, "POST", "/api/v1/executions/"+waiting+"/cancel", adminToken, nil).expectStatus(t, http.StatusOK)
	waitGone(t, ts, waiting, 10*time.Second)
}

// A workflow's own retention wins over the server's default (here: keep
// everything).
func TestRetentionPerWorkflow(t *testing.T) {
	ts := bootServer(t, "", nil, func(reg *workflows.Registry) {
		workflows.Register(reg, "short-lived", func(ctx workflows.Context, in struct{}) (string, error) { return "done", nil },
			workflows.Retention(200*time.Millisecond))
	})
	short := httpStart(t, ts, adminToken, "short-lived", map[string]any{})
	kept := endedEcho(t, ts, adminToken, "")
	waitGone(t, ts, short, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	httpWaitStatus(t, ts, adminToken, kept, "completed")
}

// Retention keeps working across a restart, on a store whose ended
// executions were recorded before the server had a retention (the index is
// built on the first sweep).
func TestRetentionAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ts := bootServer(t, dir, nil)
	var ids []string
	for range 3 {
		ids = append(ids, endedEcho(t, ts, adminToken, ""))
	}
	ts.stop(t)
	ts = bootServer(t, dir, func(c *server.Config) { c.Retention = time.Millisecond })
	for _, id := range ids {
		waitGone(t, ts, id, 10*time.Second)
	}
}

func init() {
	// The scope and workspace walk (scopes_test.go) covers execution.delete
	// on both surfaces; each right-token call deletes an echo of its own.
	wsCases["execution.delete"] = wsCase{
		scope: weft.ScopeExecutionsWrite, kind: kindExecution,
		request: func(fx *scopeFixture) any {
			return map[string]any{"execution_id": endedEcho(fx.t, fx.ts, adminToken, "")}
		},
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"deleted":true}`) {
				t.Fatalf("delete answered %s", lastFrame(frames).Response)
			}
		},
	}
	httpCases["DELETE /api/v1/executions/{id}"] = httpCase{
		scope: weft.ScopeExecutionsWrite, kind: kindExecution,
		requests: func(fx *scopeFixture, id string) []httpReq {
			if id == fx.done {
				id = endedEcho(fx.t, fx.ts, adminToken, "")
			}
			return []httpReq{{method: "DELETE", path: "/api/v1/executions/" + id}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if !sameJSONValue(r.body, `{"deleted":true}`) {
				t.Fatalf("delete answered %s", r.body)
			}
		},
	}
}
