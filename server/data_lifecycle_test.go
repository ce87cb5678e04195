package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/weft-run/weft"
)

// Issue 17 (data lifecycle): export and import over the HTTP plane,
// execution.get's steps array, llm_start's model.

// exportLine is GET /api/v1/executions/{id}/export as admin.
func exportLine(t testing.TB, ts *testServer, token, id string) []byte {
	t.Helper()
	r := httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/export", token, nil)
	r.expectStatus(t, http.StatusOK)
	return r.body
}

// portable is the part of a record the tests read.
type portable struct {
	Version   int `json:"version"`
	Execution struct {
		ID        string `json:"execution_id"`
		Workspace string `json:"workspace"`
		Workflow  string `json:"workflow"`
		Status    string `json:"status"`
		LastSeq   uint64 `json:"last_seq"`
	} `json:"execution"`
	Steps   []json.RawMessage `json:"steps"`
	Events  []json.RawMessage `json:"events"`
	Signals []struct {
		Name    string          `json:"name"`
		Payload json.RawMessage `json:"payload"`
	} `json:"signals"`
}

// withUpdatedAt is line with the execution's updated_at of from.
func withUpdatedAt(t testing.TB, line, from []byte) []byte {
	t.Helper()
	var a, b struct {
		Execution struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"execution"`
	}
	if json.Unmarshal(line, &a) != nil || json.Unmarshal(from, &b) != nil || a.Execution.UpdatedAt == "" {
		t.Fatalf("no updated_at in %s", line)
	}
	return bytes.Replace(line, []byte(`"updated_at":"`+a.Execution.UpdatedAt+`"`), []byte(`"updated_at":"`+b.Execution.UpdatedAt+`"`), 1)
}

func importBody(t testing.TB, ts *testServer, token string, body []byte) httpResult {
	t.Helper()
	return httpDo(t, ts, "POST", "/api/v1/import", token, body, "Content-Type", "application/x-ndjson")
}

func TestExportImportOverTheServer(t *testing.T) {
	a := startServer(t, "")
	done := httpStart(t, a, adminToken, "echo", map[string]any{"x": "<&>"})
	httpWaitStatus(t, a, adminToken, done, "completed")
	countdown := httpStart(t, a, adminToken, "countdown", map[string]any{"steps": 3, "delay_ms": 1})
	httpWaitStatus(t, a, adminToken, countdown, "completed")
	waiting := httpStart(t, a, adminToken, "approval", map[string]any{})
	httpWaitStatus(t, a, adminToken, waiting, "waiting")
	// A signal nobody waits for stays in the inbox: the export carries it.
	httpDo(t, a, "POST", "/api/v1/executions/"+waiting+"/signals/note", adminToken, map[string]any{"n": 1}).expectStatus(t, http.StatusOK)

	var file []byte
	for _, id := range []string{done, countdown, waiting} {
		line := exportLine(t, a, adminToken, id)
		rec := decode[portable](t, line)
		if rec.Version != 1 || rec.Execution.ID != id || rec.Execution.Workspace != "acme" || len(rec.Events) == 0 {
			t.Fatalf("export of %s: %s", id, line)
		}
		if rec.Execution.LastSeq != uint64(len(rec.Events)) {
			t.Errorf("export of %s: last_seq %d, %d events", id, rec.Execution.LastSeq, len(rec.Events))
		}
		if id == waiting && (len(rec.Signals) != 1 || rec.Signals[0].Name != "note") {
			t.Errorf("export of the waiting approval lacks its pending signal: %s", line)
		}
		file = append(file, line...)
	}

	// Refusals: no admin scope, a token of another workspace, another
	// workspace's execution.
	importBody(t, a, readerToken, file).expectError(t, http.StatusForbidden, "FORBIDDEN")
	httpDo(t, a, "GET", "/api/v1/executions/"+done+"/export", readerToken, nil).expectError(t, http.StatusForbidden, "FORBIDDEN")
	httpDo(t, a, "GET", "/api/v1/executions/"+done+"/export", otherToken, nil).expectError(t, http.StatusNotFound, "EXECUTION_NOT_FOUND")

	b := startServer(t, "")
	r := importBody(t, b, otherToken, file)
	r.expectError(t, http.StatusForbidden, "FORBIDDEN")
	if !strings.Contains(string(r.body), "line 1") || !strings.Contains(string(r.body), `\"acme\"`) {
		t.Errorf("another workspace's import refused with %s", r.body)
	}
	r = importBody(t, b, adminToken, file)
	r.expectStatus(t, http.StatusOK)
	if !sameJSONValue(r.body, `{"imported":3,"skipped":0}`) {
		t.Fatalf("import answered %s", r.body)
	}
	// Idempotent: the same file again changes nothing.
	r = importBody(t, b, adminToken, file)
	if r.expectStatus(t, http.StatusOK); !sameJSONValue(r.body, `{"imported":0,"skipped":3}`) {
		t.Fatalf("second import answered %s", r.body)
	}
	// The round trip is byte-identical. The approval resumed on b, which
	// rewrote its record's updated_at (and only that).
	lines := bytes.SplitAfter(file, []byte("\n"))
	for i, id := range []string{done, countdown, waiting} {
		again := exportLine(t, b, adminToken, id)
		if id == waiting {
			again = withUpdatedAt(t, again, lines[i])
		}
		if !bytes.Equal(lines[i], again) {
			t.Errorf("export of %s after import differs:\n%s---\n%s", id, lines[i], again)
		}
	}
	// The imported approval resumed on b: signalled, it completes there.
	httpDo(t, b, "POST", "/api/v1/executions/"+waiting+"/signals/approve", adminToken, map[string]any{"ok": true}).expectStatus(t, http.StatusOK)
	if got := httpWaitStatus(t, b, adminToken, waiting, "completed"); !sameJSONValue(got.Result, `{"ok":true}`) {
		t.Errorf("imported approval completed with %s", got.Result)
	}
	// Still idempotent after it ran on: its history begins with the file's.
	if r := importBody(t, b, adminToken, file); !sameJSONValue(r.body, `{"imported":0,"skipped":3}`) {
		t.Errorf("import after the approval completed answered %d %s", r.status, r.body)
	}

	// A malformed line is INVALID_REQUEST naming the line; the lines
	// before it are stored.
	c := startServer(t, "")
	bad := append(append([]byte{}, exportLine(t, a, adminToken, done)...), []byte("{not json\n")...)
	r = importBody(t, c, adminToken, bad)
	r.expectError(t, http.StatusBadRequest, "INVALID_REQUEST")
	if !strings.Contains(string(r.body), "line 2") || !strings.Contains(string(r.body), "1 imported") {
		t.Errorf("malformed line refused with %s", r.body)
	}
	httpWaitStatus(t, c, adminToken, done, "completed")
	// A record whose events do not follow each other names its line and id.
	var rec map[string]any
	_ = json.Unmarshal(exportLine(t, a, adminToken, countdown), &rec)
	evs := rec["events"].([]any)
	rec["events"] = append([]any{}, evs[1:]...)
	line, _ := json.Marshal(rec)
	r = importBody(t, c, adminToken, append(line, '\n'))
	r.expectError(t, http.StatusBadRequest, "INVALID_REQUEST")
	if !strings.Contains(string(r.body), "line 1 ("+countdown+")") {
		t.Errorf("inconsistent record refused with %s", r.body)
	}
	// The same id with another history is CONFLICT naming it.
	_ = json.Unmarshal(exportLine(t, a, adminToken, done), &rec)
	rec["execution"].(map[string]any)["workflow"] = "countdown"
	line, _ = json.Marshal(rec)
	r = importBody(t, c, adminToken, append(line, '\n'))
	r.expectError(t, http.StatusConflict, "CONFLICT")
	if !strings.Contains(string(r.body), done) {
		t.Errorf("conflict refused with %s", r.body)
	}
}

func TestExecutionGetAlwaysCarriesSteps(t *testing.T) {
	a := startServer(t, "")
	id := httpStart(t, a, adminToken, "echo", map[string]any{})
	httpWaitStatus(t, a, adminToken, id, "completed")
	// An execution with no step yet: an imported one recorded before its
	// first step (execution_started only).
	var rec map[string]any
	_ = json.Unmarshal(exportLine(t, a, adminToken, id), &rec)
	rec["steps"] = []any{}
	rec["events"] = rec["events"].([]any)[:1]
	exec := rec["execution"].(map[string]any)
	exec["status"], exec["result"] = "cancelled", nil
	line, _ := json.Marshal(rec)
	b := startServer(t, "")
	importBody(t, b, adminToken, append(line, '\n')).expectStatus(t, http.StatusOK)

	r := httpDo(t, b, "GET", "/api/v1/executions/"+id, adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"steps":[]`) {
		t.Errorf("HTTP execution.get before the first step: %s", r.body)
	}
	c := dial(t, b, adminToken)
	f := c.call("g", "execution.get", map[string]any{"execution_id": id})
	if f.Error != nil || !strings.Contains(string(f.Response), `"steps":[]`) {
		t.Errorf("socket execution.get before the first step: %s %+v", f.Response, f.Error)
	}
	// After steps: an array of them.
	r = httpDo(t, a, "GET", "/api/v1/executions/"+id, adminToken, nil)
	if got := decode[struct {
		Steps []json.RawMessage `json:"steps"`
	}](t, r.body); len(got.Steps) == 0 {
		t.Errorf("execution.get of a completed echo: %s", r.body)
	}
	// List items may leave steps out.
	r = httpDo(t, b, "GET", "/api/v1/executions", adminToken, nil)
	if strings.Contains(string(r.body), `"steps":null`) {
		t.Errorf("list items carry steps null: %s", r.body)
	}
}

func TestEveryLLMStartNamesItsModel(t *testing.T) {
	ts := startServer(t, "")
	id := httpStart(t, ts, adminToken, "search-candidates", map[string]any{"user_query": "go", "organization_id": "o"})
	httpWaitStatus(t, ts, adminToken, id, "completed")
	r := httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	starts := 0
	for _, l := range parseLines(t, r.body) {
		if l.Type != "llm_start" {
			continue
		}
		starts++
		d := decode[struct {
			Provider string `json:"provider"`
			Model    string `json:"model"`
		}](t, l.Data.Details)
		if d.Model == "" || d.Provider == "" {
			t.Errorf("llm_start without provider or model: %s", l.Data.Details)
		}
	}
	if starts == 0 {
		t.Fatalf("no llm_start in %s", r.body)
	}
}

func init() {
	httpCases["GET /api/v1/executions/{id}/export"] = httpCase{
		scope: weft.ScopeAdmin, kind: kindExecution,
		requests: func(_ *scopeFixture, id string) []httpReq {
			return []httpReq{{method: "GET", path: "/api/v1/executions/" + id + "/export"}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if got := decode[portable](t, r.body); got.Execution.ID != fx.done || got.Execution.LastSeq == 0 || len(got.Events) == 0 {
				t.Fatalf("export answered %s", r.body)
			}
		},
	}
	httpCases["POST /api/v1/import"] = httpCase{
		// acme's own record again: skipped. Another workspace's admin
		// cannot write acme's workspace.
		scope: weft.ScopeAdmin, kind: kindList,
		requests: func(fx *scopeFixture, _ string) []httpReq {
			line := exportLine(fx.t, fx.ts, adminToken, fx.done)
			return []httpReq{{method: "POST", path: "/api/v1/import", body: line}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if !sameJSONValue(r.body, `{"imported":0,"skipped":1}`) {
				t.Fatalf("import of a stored execution answered %s", r.body)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, r httpResult) {
			r.expectError(t, http.StatusForbidden, "FORBIDDEN")
		},
	}
}
