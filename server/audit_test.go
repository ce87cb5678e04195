package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/server"
)

// The audit trail (issue 19): every mutation leaves one record, the same
// over either surface but for its transport.

type auditRecord struct {
	Time       time.Time `json:"time"`
	Identity   string    `json:"identity"`
	Workspace  string    `json:"workspace"`
	Transport  string    `json:"transport"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Outcome    string    `json:"outcome"`
	RemoteAddr string    `json:"remote_addr"`
}

type auditPage struct {
	Items      []auditRecord `json:"items"`
	NextCursor string        `json:"next_cursor"`
}

// auditOf lists every audit record of token's workspace over HTTP, page by
// page (query is added to each page's request).
func auditOf(t testing.TB, ts *testServer, token, query string) []auditRecord {
	t.Helper()
	var out []auditRecord
	after := ""
	for range 100 {
		r := httpDo(t, ts, "GET", "/api/v1/audit?limit=7&after="+after+query, token, nil)
		r.expectStatus(t, http.StatusOK)
		p := decode[auditPage](t, r.body)
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out
		}
		after = p.NextCursor
	}
	t.Fatal("audit cursor never ends")
	return nil
}

// waitAudit waits until token's workspace holds at least n records of
// transport (records are written without waiting for their fsync).
func waitAudit(t testing.TB, ts *testServer, token, transport string, n int) []auditRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []auditRecord
		for _, r := range auditOf(t, ts, token, "") {
			if r.Transport == transport {
				got = append(got, r)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditStep is one mutation, done over one transport; it returns the ids
// it made or named, which the comparison maps to their position.
type auditStep struct {
	name string
	ws   func(t *testing.T, ts *testServer, ids map[string]string) []frame
	http func(t *testing.T, ts *testServer, ids map[string]string) httpResult
}

func TestAuditSameRecordOverBothTransports(t *testing.T) {
	ts := startServer(t, "")
	steps := []auditStep{
		{name: "start",
			ws: func(t *testing.T, ts *testServer, ids map[string]string) []frame {
				f := wsCall(t, ts, adminToken, "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"a": 1}, "subscribe": false})
				ids[decode[execSnapshot](t, expectWSOK(t, f).Response).ExecutionID] = "started"
				return f
			},
			http: func(t *testing.T, ts *testServer, ids map[string]string) httpResult {
				r := httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken, map[string]any{"parameters": map[string]any{"a": 1}})
				ids[decode[execSnapshot](t, r.body).ExecutionID] = "started"
				return r
			}},
		{name: "start unknown workflow",
			ws: func(t *testing.T, ts *testServer, _ map[string]string) []frame {
				return wsCall(t, ts, adminToken, "workflow.start", map[string]any{"name": "nope", "subscribe": false})
			},
			http: func(t *testing.T, ts *testServer, _ map[string]string) httpResult {
				return httpDo(t, ts, "POST", "/api/v1/workflows/nope/executions", adminToken, nil)
			}},
		{name: "cancel forbidden",
			ws: func(t *testing.T, ts *testServer, _ map[string]string) []frame {
				return wsCall(t, ts, readerToken, "execution.cancel", map[string]any{"execution_id": "exec_x"})
			},
			http: func(t *testing.T, ts *testServer, _ map[string]string) httpResult {
				return httpDo(t, ts, "POST", "/api/v1/executions/exec_x/cancel", readerToken, nil)
			}},
		{name: "cancel",
			ws: func(t *testing.T, ts *testServer, ids map[string]string) []frame {
				return wsCall(t, ts, adminToken, "execution.cancel", map[string]any{"execution_id": idOf(ids, "started")})
			},
			http: func(t *testing.T, ts *testServer, ids map[string]string) httpResult {
				return httpDo(t, ts, "POST", "/api/v1/executions/"+idOf(ids, "started")+"/cancel", adminToken, nil)
			}},
		{name: "signal unknown execution",
			ws: func(t *testing.T, ts *testServer, _ map[string]string) []frame {
				return wsCall(t, ts, adminToken, "execution.signal", map[string]any{"execution_id": "exec_nope", "name": "go", "payload": map[string]any{}})
			},
			http: func(t *testing.T, ts *testServer, _ map[string]string) httpResult {
				return httpDo(t, ts, "POST", "/api/v1/executions/exec_nope/signals/go", adminToken, map[string]any{})
			}},
		{name: "delete",
			ws: func(t *testing.T, ts *testServer, ids map[string]string) []frame {
				id := endedEcho(t, ts, adminToken, "")
				ids[id] = "ended"
				return wsCall(t, ts, adminToken, "execution.delete", map[string]any{"execution_id": id})
			},
			http: func(t *testing.T, ts *testServer, ids map[string]string) httpResult {
				id := endedEcho(t, ts, adminToken, "")
				ids[id] = "ended"
				return httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, adminToken, nil)
			}},
		{name: "broadcast",
			ws: func(t *testing.T, ts *testServer, _ map[string]string) []frame {
				return wsCall(t, ts, adminToken, "room.broadcast", map[string]any{"room": "lobby", "message": map[string]any{"hi": 1}})
			},
			http: func(t *testing.T, ts *testServer, _ map[string]string) httpResult {
				return httpDo(t, ts, "POST", "/api/v1/rooms/lobby/broadcast", adminToken, map[string]any{"message": map[string]any{"hi": 1}})
			}},
		{name: "schedule create",
			ws: func(t *testing.T, ts *testServer, ids map[string]string) []frame {
				f := wsCall(t, ts, adminToken, "schedule.create", map[string]any{"workflow": "echo", "every": "1h"})
				ids[decode[map[string]any](t, expectWSOK(t, f).Response)["schedule_id"].(string)] = "schedule"
				return f
			},
			http: func(t *testing.T, ts *testServer, ids map[string]string) httpResult {
				r := httpDo(t, ts, "POST", "/api/v1/schedules", adminToken, map[string]any{"workflow": "echo", "every": "1h"})
				ids[decode[map[string]any](t, r.body)["schedule_id"].(string)] = "schedule"
				return r
			}},
	}
	for _, op := range []string{"pause", "resume", "trigger", "delete"} {
		steps = append(steps, auditStep{name: "schedule " + op,
			ws: func(t *testing.T, ts *testServer, ids map[string]string) []frame {
				return wsCall(t, ts, adminToken, "schedule."+op, map[string]any{"schedule_id": idOf(ids, "schedule")})
			},
			http: func(t *testing.T, ts *testServer, ids map[string]string) httpResult {
				if op == "delete" {
					return httpDo(t, ts, "DELETE", "/api/v1/schedules/"+idOf(ids, "schedule"), adminToken, nil)
				}
				return httpDo(t, ts, "POST", "/api/v1/schedules/"+idOf(ids, "schedule")+"/"+op, adminToken, nil)
			}})
	}

	wsIDs, httpIDs := map[string]string{}, map[string]string{}
	for _, s := range steps {
		s.ws(t, ts, wsIDs)
		s.http(t, ts, httpIDs)
	}
	wsRecs := waitAudit(t, ts, adminToken, "ws", len(steps))
	// endedEcho starts its echoes over HTTP: both helpers' starts are left
	// out of the comparison.
	var httpRecs []auditRecord
	for _, r := range waitAudit(t, ts, adminToken, "http", len(steps)+2) {
		if r.Action == "workflow.start" && (wsIDs[r.Target] == "ended" || httpIDs[r.Target] == "ended") {
			continue
		}
		httpRecs = append(httpRecs, r)
	}
	if len(wsRecs) != len(steps) || len(httpRecs) != len(steps) {
		t.Fatalf("%d steps left %d ws and %d http records:\nws %+v\nhttp %+v", len(steps), len(wsRecs), len(httpRecs), wsRecs, httpRecs)
	}
	for i, s := range steps {
		a, b := wsRecs[i], httpRecs[i]
		a.Target, b.Target = normalize(a.Target, wsIDs), normalize(b.Target, httpIDs)
		a.Transport, b.Transport = "", ""
		if a.Time.IsZero() || b.Time.IsZero() || a.RemoteAddr == "" {
			t.Errorf("%s: incomplete record %+v", s.name, a)
		}
		a.Time, b.Time = time.Time{}, time.Time{}
		if a != b {
			t.Errorf("%s: the surfaces leave different records:\nws   %+v\nhttp %+v", s.name, a, b)
		}
	}
	// A few records checked by hand.
	want := map[int]string{0: "alice workflow.start started ok", 1: "alice workflow.start nope WORKFLOW_NOT_FOUND",
		2: "rita execution.cancel exec_x FORBIDDEN", 4: "alice execution.signal exec_nope EXECUTION_NOT_FOUND"}
	for i, w := range want {
		r := wsRecs[i]
		if got := fmt.Sprint(r.Identity, " ", r.Action, " ", normalize(r.Target, wsIDs), " ", r.Outcome); got != w {
			t.Errorf("record %d: %s, want %s", i, got, w)
		}
	}
	// The trigger's firing is the schedule's, carried by "schedule".
	fired := waitAudit(t, ts, adminToken, "schedule", 2)
	if len(fired) != 2 || fired[0].Action != "workflow.start" || !strings.HasPrefix(fired[0].Identity, "schedule:sched_") {
		t.Fatalf("trigger firings: %+v", fired)
	}
	// Filters: action, identity; and another workspace sees none of it.
	for _, r := range auditOf(t, ts, adminToken, "&action=execution.cancel&identity=rita") {
		if r.Action != "execution.cancel" || r.Identity != "rita" {
			t.Fatalf("filtered listing holds %+v", r)
		}
	}
	if got := auditOf(t, ts, adminToken, "&action=execution.cancel&identity=rita"); len(got) != 2 {
		t.Fatalf("rita's cancels: %+v", got)
	}
	if got := auditOf(t, ts, otherToken, ""); len(got) != 0 {
		t.Fatalf("globex sees %+v", got)
	}
	httpDo(t, ts, "GET", "/api/v1/audit", readerToken, nil).expectError(t, http.StatusForbidden, "FORBIDDEN")
	// The socket's audit.list answers the same page.
	f := wsCall(t, ts, adminToken, "audit.list", map[string]any{"action": "schedule.trigger"})
	if got := decode[auditPage](t, expectWSOK(t, f).Response).Items; len(got) != 2 {
		t.Fatalf("audit.list schedule.trigger: %+v", got)
	}
}

func idOf(ids map[string]string, role string) string {
	for id, r := range ids {
		if r == role {
			return id
		}
	}
	return ""
}

func normalize(target string, ids map[string]string) string {
	if r, ok := ids[target]; ok {
		return r
	}
	return target
}

func TestAuditOffRecordsNothing(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.NoAudit = true })
	endedEcho(t, ts, adminToken, "")
	time.Sleep(50 * time.Millisecond)
	if got := auditOf(t, ts, adminToken, ""); len(got) != 0 {
		t.Fatalf("audit off recorded %+v", got)
	}
}

func TestAuditCLIUserAgentAndKeysReload(t *testing.T) {
	ts := startServer(t, "")
	httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken, nil, "User-Agent", "weft-cli/test").expectStatus(t, http.StatusAccepted)
	if got := waitAudit(t, ts, adminToken, "cli", 1); len(got) != 1 || got[0].Action != "workflow.start" {
		t.Fatalf("cli records: %+v", got)
	}
	// A keys reload is the server's own: identity and workspace "system".
	keys := `{"keys":[{"token":"tok-admin","identity":"alice","workspace":"acme","scopes":["admin"]},
 {"token":"tok-sys","identity":"ops","workspace":"system","scopes":["audit:read"]}]}`
	if err := os.WriteFile(filepath.Join(ts.dir, "test-keys.json"), []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	got := waitAudit(t, ts, "tok-sys", "cli", 1)
	if len(got) != 1 || got[0].Action != "keys.reload" || got[0].Identity != "system" || got[0].Outcome != "ok" {
		t.Fatalf("keys reload records: %+v", got)
	}
}

func init() {
	// The scope and workspace walk (scopes_test.go) covers audit.list on
	// both surfaces: a workspace lists only its own records.
	wsCases["audit.list"] = wsCase{
		scope: weft.ScopeAuditRead, kind: kindList,
		request: func(*scopeFixture) any { return map[string]any{"limit": 1000} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !strings.Contains(string(expectWSOK(t, frames).Response), `"items":[`) {
				t.Fatalf("audit.list answered %s", lastFrame(frames).Response)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) {
			// Its own refused attempts name acme's ids: only acme's
			// records must stay out.
			body := string(expectWSOK(t, frames).Response)
			if strings.Contains(body, `"workspace":"acme"`) {
				t.Fatalf("another workspace lists acme's records: %s", body)
			}
		},
	}
	httpCases["GET /api/v1/audit"] = httpCase{
		scope: weft.ScopeAuditRead, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "GET", path: "/api/v1/audit?limit=1000"}, {method: "GET", path: "/api/v1/audit?action=workflow.start"}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"items":[`) {
				t.Fatalf("audit answered %s", r.body)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if strings.Contains(string(r.body), `"workspace":"acme"`) {
				t.Fatalf("another workspace lists acme's records: %s", r.body)
			}
		},
	}
}
