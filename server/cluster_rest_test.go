package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"testing"
	"time"

	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// TestClusterSharedRest: schedules, the audit trail, workflow stats and
// retention are the cluster's, not a node's. A schedule created on A
// fires once per due time while A, B and C all run their schedulers, and
// goes on firing once A stops; audit records of mutations on A and B are
// listed on C; workflow.stats on C counts runs ended on A and B; an
// execution ended on A is removed by retention and gone on C.
func TestClusterSharedRest(t *testing.T) {
	retention := func(cfg *server.Config) { cfg.Retention = 2 * time.Second }
	_, a, b, c := threeNodes(t, retention)
	ca, cb, cc := dial(t, a, adminToken), dial(t, b, adminToken), dial(t, c, adminToken)

	// Stats and audit: runs ended on A and B, read on C.
	before := statsOverSocket(t, cc, map[string]any{"name": "echo", "period": "hour"}).Runs
	onA := endedEcho(t, a, adminToken, "")
	onB := endedEcho(t, b, adminToken, "")
	waitFor(t, 10*time.Second, "workflow.stats on C counts the runs of A and B", func() bool {
		return statsOverSocket(t, cc, map[string]any{"name": "echo", "period": "hour"}).Runs == before+2
	})
	waitFor(t, 10*time.Second, "audit.list on C holds the starts made on A and B", func() bool {
		targets := map[string]bool{}
		for _, r := range auditOf(t, c, adminToken, "&action=workflow.start") {
			targets[r.Target] = true
		}
		return targets[onA] && targets[onB]
	})

	// Retention: A's run is removed, by whichever node sweeps first.
	waitGone(t, c, onA, 20*time.Second)
	waitGone(t, a, onB, 20*time.Second)

	// A schedule created on A, every node's scheduler running.
	id := createSchedule(t, ca, map[string]any{"workflow": "approval", "parameters": map[string]any{"delay_ms": 0}, "every": "1s", "overlap": "allow"})
	created := getSchedule(t, cb, id).CreatedAt
	time.Sleep(time.Until(created.Add(3500 * time.Millisecond)))
	a.stop(t) // B and C go on firing it
	time.Sleep(time.Until(created.Add(6500 * time.Millisecond)))
	cb.mustOK("schedule.pause", map[string]any{"schedule_id": id})

	// A firing under way at the pause (its execution started, its count
	// not yet stored) settles within moments.
	var execs []schedExec
	var info schedInfo
	waitFor(t, 10*time.Second, "the schedule's firings count its executions", func() bool {
		execs, info = scheduledExecutions(t, cc, "approval", id), getSchedule(t, cc, id)
		return int64(len(execs)) == info.Firings
	})
	dueTimes := map[time.Time]string{}
	for _, e := range execs {
		if other, dup := dueTimes[e.Metadata.ScheduledFor]; dup {
			t.Fatalf("due time %s fired twice: %s and %s", e.Metadata.ScheduledFor, other, e.ExecutionID)
		}
		dueTimes[e.Metadata.ScheduledFor] = e.ExecutionID
	}
	if n := len(execs); n < 5 || int64(n) != info.Firings {
		t.Fatalf("%d executions of %d due times in 6.5 s of an every-1s schedule, schedule.get firings %d, want 5 to 7 and equal", n, len(dueTimes), info.Firings)
	}
	for i := range len(execs) {
		want := created.Add(time.Duration(i+1) * time.Second)
		if _, ok := dueTimes[want]; !ok {
			t.Errorf("due time %s (firing %d) has no execution: %v", want, i+1, dueTimes)
		}
	}
	if last := execs[len(execs)-1].Metadata.ScheduledFor; !last.After(created.Add(4 * time.Second)) {
		t.Errorf("last firing at %s: none after A stopped", last)
	}
}

// TestClusterConcurrencyLimit: a workflow limited to one running
// execution runs one at a time across the cluster, whichever node its
// starts come to, and goes on doing so when a node stops.
func TestClusterConcurrencyLimit(t *testing.T) {
	ns := natstest.Cluster(t, 3)
	single := func(reg *workflows.Registry) {
		workflows.Register(reg, "single", func(ctx workflows.Context, _ struct{}) (string, error) {
			return workflows.WaitSignal[string](ctx, "go", 0)
		}, workflows.MaxConcurrent(1))
	}
	boot := func(id, url string) *testServer {
		return bootServer(t, "", func(cfg *server.Config) {
			cfg.Cluster = server.ClusterConfig{NATSURLs: url, NodeID: id}
			cfg.NoSync = true
		}, single)
	}
	a, b, c := boot("node-a", ns[0].URL()), boot("node-b", ns[1].URL()), boot("node-c", ns[2].URL())
	waitMembers(t, 3, a, b, c)
	clients := []*client{dial(t, a, adminToken), dial(t, b, adminToken), dial(t, c, adminToken)}
	var ids []string
	for i, cl := range append(clients, clients...) { // two starts on each node
		f := cl.call(fmt.Sprint("s", i), "workflow.start", map[string]any{"name": "single", "subscribe": false})
		if f.Error != nil {
			t.Fatalf("start on node %d: %+v", i%3, f.Error)
		}
		ids = append(ids, decode[execSnapshot](t, f.Response).ExecutionID)
	}
	cc := clients[2]
	// live reads every execution's status on C and returns the one not
	// queued, failing if there are more; done counts the completed.
	live := func() (running string, done int) {
		for _, id := range ids {
			switch st := decode[execSnapshot](t, cc.mustOK("execution.get", map[string]any{"execution_id": id})).Status; st {
			case "completed":
				done++
			case "queued":
			default:
				if running != "" {
					t.Fatalf("%s and %s (%s) run at once under a limit of 1", running, id, st)
				}
				running = id
			}
		}
		return running, done
	}
	for want := 1; want <= len(ids); want++ {
		var running string
		waitFor(t, 20*time.Second, fmt.Sprintf("execution %d of the limited workflow runs", want), func() bool {
			var done int
			running, done = live()
			return running != "" && done == want-1
		})
		if want == 2 {
			a.stop(t) // whichever node held the limit, it still holds
			cc = clients[2]
		}
		waitStatus(t, cc, running, "waiting")
		if f := clients[1].call("go", "execution.signal", map[string]any{"execution_id": running, "name": "go", "payload": "ok"}); f.Error != nil {
			t.Fatalf("signal %s: %+v", running, f.Error)
		}
		waitStatus(t, cc, running, "completed")
	}
}

// TestClusterArtifacts: an artifact uploaded on A is listed and downloaded
// (whole and by range) on B, read by a workflow wherever it runs; what
// the workflow created is downloaded on A and goes when its execution is
// deleted on B; a too large upload leaves nothing; another workspace sees
// none of it.
func TestClusterArtifacts(t *testing.T) {
	small := func(cfg *server.Config) { cfg.MaxArtifactBytes = 1 << 20 }
	_, a, b, c := threeNodes(t, small)

	body := []byte("the cat and the hat\nThe end\n")
	in := uploadArtifact(t, a, adminToken, "text.txt", "text/plain", body)
	path := "/api/v1/artifacts/" + in.ArtifactID
	r := httpDo(t, b, "GET", path, readerToken, nil)
	r.expectStatus(t, http.StatusOK)
	if !bytes.Equal(r.body, body) || r.header.Get("ETag") != `"`+in.SHA256+`"` || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("download on B: %q %v", r.body, r.header)
	}
	r = httpDo(t, b, "GET", path, readerToken, nil, "Range", "bytes=4-6")
	r.expectStatus(t, http.StatusPartialContent)
	if string(r.body) != "cat" {
		t.Fatalf("range on B: %q", r.body)
	}
	if l := httpDo(t, c, "GET", "/api/v1/artifacts", adminToken, nil); !strings.Contains(string(l.body), in.ArtifactID) {
		t.Fatalf("C does not list A's upload: %s", l.body)
	}
	httpDo(t, c, "GET", path, otherToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")

	// A workflow on whichever node reads it and creates one.
	id := httpStart(t, c, adminToken, "wordcount", map[string]any{"artifact_id": in.ArtifactID})
	snap := httpWaitStatus(t, c, adminToken, id, "completed")
	if !sameJSONValue(snap.Result, `{"words":7}`) {
		t.Fatalf("result %s", snap.Result)
	}
	created := createdArtifacts(t, historyOf(t, a, id))
	if len(created) != 1 {
		t.Fatalf("artifact_created events %+v", created)
	}
	out := "/api/v1/artifacts/" + created[0].ArtifactID
	if r := httpDo(t, a, "GET", out, adminToken, nil); string(r.body) != "3\tthe\n1\tand\n1\tcat\n1\tend\n1\that\n" {
		t.Fatalf("created artifact on A: %d %q", r.status, r.body)
	}
	httpDo(t, b, "DELETE", "/api/v1/executions/"+id, adminToken, nil).expectStatus(t, http.StatusOK)
	httpDo(t, c, "GET", out, adminToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	httpDo(t, c, "GET", path, adminToken, nil).expectStatus(t, http.StatusOK)

	// Too large: refused, nothing listed; a delete on C removes A's upload.
	httpDo(t, b, "POST", "/api/v1/artifacts?name=big", adminToken, bytes.Repeat([]byte("x"), 2<<20)).
		expectError(t, http.StatusRequestEntityTooLarge, "WS_MESSAGE_TOO_LARGE")
	httpDo(t, c, "DELETE", path, adminToken, nil).expectStatus(t, http.StatusOK)
	httpDo(t, a, "GET", path, adminToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	if l := httpDo(t, a, "GET", "/api/v1/artifacts", adminToken, nil); !sameJSONValue(l.body, `{"items":[]}`) {
		t.Fatalf("artifacts left: %s", l.body)
	}
}
