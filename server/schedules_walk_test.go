package server_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/weft-run/weft"
)

// Entries of the scope and workspace walk (scopes_test.go) for the
// schedule.* services. Another workspace's token naming acme's schedule
// must get SCHEDULE_NOT_FOUND and change nothing; its list holds none of
// acme's schedules.

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
