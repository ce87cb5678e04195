package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/weft-run/weft"
)

// Entries of the scope and workspace walk (scopes_test.go) for the
// schedule.* services and their HTTP routes. Another workspace's token
// naming acme's schedule must get SCHEDULE_NOT_FOUND (404 over HTTP) and
// change nothing; its list holds none of acme's schedules.

// walkSchedules holds, per fixture, an acme schedule that never fires on
// its own (1 January, 00:00) for the walk to name.
var walkSchedules sync.Map // *scopeFixture -> schedule id

func walkSchedule(fx *scopeFixture) string {
	if id, ok := walkSchedules.Load(fx); ok {
		return id.(string)
	}
	c := dial(fx.t, fx.ts, adminToken)
	defer c.conn.Close()
	id := createSchedule(fx.t, c, map[string]any{"workflow": "echo", "parameters": map[string]any{"secret": "acme"}, "cron": "0 0 1 1 *"})
	walkSchedules.Store(fx, id)
	return id
}

// walkScheduleCase is a schedule service that names acme's schedule.
func walkScheduleCase(scope weft.Scope, works func(t *testing.T, fx *scopeFixture, f frame)) wsCase {
	return wsCase{
		scope: scope, kind: kindList,
		request: func(fx *scopeFixture) any { return map[string]any{"schedule_id": walkSchedule(fx)} },
		works:   func(t *testing.T, fx *scopeFixture, frames []frame) { works(t, fx, expectWSOK(t, frames)) },
		foreign: func(t *testing.T, fx *scopeFixture, frames []frame) {
			expectWSError(t, frames, "SCHEDULE_NOT_FOUND")
			c := dial(t, fx.ts, adminToken)
			defer c.conn.Close()
			getSchedule(t, c, walkSchedule(fx)) // still there (a foreign delete would fail this)
		},
	}
}

func init() {
	wsCases["schedule.create"] = wsCase{
		scope: weft.ScopeSchedulesWrite, kind: kindList,
		request: func(*scopeFixture) any {
			return map[string]any{"workflow": "echo", "cron": "0 0 1 1 *"}
		},
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if f := expectWSOK(t, frames); !strings.Contains(string(f.Response), `"schedule_id":"sched_`) {
				t.Fatalf("create answered %s", f.Response)
			}
		},
	}
	wsCases["schedule.list"] = wsCase{
		scope: weft.ScopeSchedulesRead, kind: kindList,
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if f := expectWSOK(t, frames); !strings.Contains(string(f.Response), `"schedules":[`) {
				t.Fatalf("list answered %s", f.Response)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, frames []frame) {
			body := string(expectWSOK(t, frames).Response)
			if strings.Contains(body, walkSchedule(fx)) || strings.Contains(body, `"secret":"acme"`) {
				t.Fatalf("another workspace lists acme's schedule: %s", body)
			}
		},
	}
	wsCases["schedule.get"] = walkScheduleCase(weft.ScopeSchedulesRead, func(t *testing.T, fx *scopeFixture, f frame) {
		if !strings.Contains(string(f.Response), walkSchedule(fx)) {
			t.Fatalf("get answered %s", f.Response)
		}
	})
	for _, svc := range []string{"schedule.pause", "schedule.resume", "schedule.delete", "schedule.trigger"} {
		wsCases[svc] = walkScheduleCase(weft.ScopeSchedulesWrite, func(t *testing.T, fx *scopeFixture, f frame) {
			if !strings.Contains(string(f.Response), `"schedule_id"`) {
				t.Fatalf("%s answered %s", svc, f.Response)
			}
			if svc == "schedule.delete" { // the next case needs one again
				walkSchedules.Delete(fx)
			}
		})
	}
}

// walkScheduleBefore holds, per fixture, acme's walk schedule as the admin
// saw it just before an HTTP route of the walk named it, for a foreign
// request's check that it changed nothing.
var walkScheduleBefore sync.Map // *scopeFixture -> schedInfo

// httpGetSchedule reads a schedule with acme's admin token over HTTP.
func httpGetSchedule(t *testing.T, fx *scopeFixture, id string) schedInfo {
	t.Helper()
	r := httpDo(t, fx.ts, "GET", "/api/v1/schedules/"+id, adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	return decode[schedInfo](t, r.body)
}

// walkScheduleHTTPCase is a route that names acme's schedule: method on
// /api/v1/schedules/{id} plus suffix ("", "/pause", ...).
func walkScheduleHTTPCase(scope weft.Scope, method, suffix string, works func(t *testing.T, fx *scopeFixture, r httpResult)) httpCase {
	return httpCase{
		scope: scope, kind: kindList,
		requests: func(fx *scopeFixture, _ string) []httpReq {
			id := walkSchedule(fx)
			walkScheduleBefore.Store(fx, httpGetSchedule(fx.t, fx, id))
			return []httpReq{{method: method, path: "/api/v1/schedules/" + id + suffix}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			works(t, fx, r)
		},
		foreign: func(t *testing.T, fx *scopeFixture, r httpResult) {
			r.expectError(t, http.StatusNotFound, "SCHEDULE_NOT_FOUND")
			if strings.Contains(string(r.body), "echo") || strings.Contains(string(r.body), "acme") {
				t.Fatalf("the refusal leaks acme's data: %s", r.body)
			}
			before, _ := walkScheduleBefore.Load(fx)
			after := httpGetSchedule(t, fx, walkSchedule(fx)) // still there (a foreign delete would fail this)
			if b := before.(schedInfo); after.Paused != b.Paused || after.Firings != b.Firings || after.LastExecutionID != b.LastExecutionID {
				t.Fatalf("another workspace's %s %s changed acme's schedule: %+v, was %+v", method, suffix, after, b)
			}
		},
	}
}

func init() {
	httpCases["GET /api/v1/schedules"] = httpCase{
		scope: weft.ScopeSchedulesRead, kind: kindList,
		requests: func(fx *scopeFixture, _ string) []httpReq {
			walkSchedule(fx) // acme has one to list (or to hide)
			return []httpReq{{method: "GET", path: "/api/v1/schedules"}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"schedules":[`) || !strings.Contains(string(r.body), walkSchedule(fx)) {
				t.Fatalf("list answered %s, want %s in it", r.body, walkSchedule(fx))
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			body := string(r.body)
			if strings.Contains(body, walkSchedule(fx)) || strings.Contains(body, `"secret":"acme"`) {
				t.Fatalf("another workspace lists acme's schedule: %s", body)
			}
		},
	}
	httpCases["POST /api/v1/schedules"] = httpCase{
		// Another workspace's create makes a schedule of its own: works.
		scope: weft.ScopeSchedulesWrite, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "POST", path: "/api/v1/schedules", body: map[string]any{"workflow": "echo", "cron": "0 0 1 1 *"}}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusCreated)
			if !strings.Contains(string(r.body), `"schedule_id":"sched_`) || !strings.HasPrefix(r.header.Get("Location"), "/api/v1/schedules/sched_") {
				t.Fatalf("create answered %s (Location %q)", r.body, r.header.Get("Location"))
			}
		},
	}
	httpCases["GET /api/v1/schedules/{id}"] = walkScheduleHTTPCase(weft.ScopeSchedulesRead, "GET", "", func(t *testing.T, fx *scopeFixture, r httpResult) {
		if got := decode[schedInfo](t, r.body); got.ID != walkSchedule(fx) || got.Workflow != "echo" {
			t.Fatalf("get answered %s", r.body)
		}
	})
	httpCases["POST /api/v1/schedules/{id}/pause"] = walkScheduleHTTPCase(weft.ScopeSchedulesWrite, "POST", "/pause", func(t *testing.T, fx *scopeFixture, r httpResult) {
		if !strings.Contains(string(r.body), `"schedule_id":"`+walkSchedule(fx)+`"`) || !strings.Contains(string(r.body), `"paused":true`) {
			t.Fatalf("pause answered %s", r.body)
		}
	})
	httpCases["POST /api/v1/schedules/{id}/resume"] = walkScheduleHTTPCase(weft.ScopeSchedulesWrite, "POST", "/resume", func(t *testing.T, fx *scopeFixture, r httpResult) {
		if !strings.Contains(string(r.body), `"schedule_id":"`+walkSchedule(fx)+`"`) || !strings.Contains(string(r.body), `"paused":false`) {
			t.Fatalf("resume answered %s", r.body)
		}
	})
	httpCases["POST /api/v1/schedules/{id}/trigger"] = walkScheduleHTTPCase(weft.ScopeSchedulesWrite, "POST", "/trigger", func(t *testing.T, fx *scopeFixture, r httpResult) {
		if !strings.Contains(string(r.body), `"schedule_id":"`+walkSchedule(fx)+`"`) || !strings.Contains(string(r.body), `"execution_id":"exec_`) {
			t.Fatalf("trigger answered %s", r.body)
		}
	})
	httpCases["DELETE /api/v1/schedules/{id}"] = walkScheduleHTTPCase(weft.ScopeSchedulesWrite, "DELETE", "", func(t *testing.T, fx *scopeFixture, r httpResult) {
		if !strings.Contains(string(r.body), `"schedule_id":"`+walkSchedule(fx)+`"`) || !strings.Contains(string(r.body), `"deleted":true`) {
			t.Fatalf("delete answered %s", r.body)
		}
		walkSchedules.Delete(fx) // the next case needs one again
	})
}
