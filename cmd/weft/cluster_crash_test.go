package main_test

// Cluster failover across processes (PROTOCOL.md section 11): three real
// `weft serve --nats-url` processes on a 3-server NATS cluster embedded in
// the test process; one weft node is killed with SIGKILL under load and a
// NATS server is stopped. Every execution must complete on the survivors,
// each history gapless with one task_end per step, and the dead node's
// executions must resume within 15 s.

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weft-run/weft/internal/natstest"
)

// startClusterWeft runs `weft serve` in cluster mode on a free port and
// waits until /readyz answers 200.
func startClusterWeft(t *testing.T, label, natsURLs, keys string) *weftProc {
	t.Helper()
	bin := weftBinary(t)
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := launchServe(t, bin, label, addr, "--data-dir", filepath.Join(t.TempDir(), label), "--keys", keys,
		"--nats-url", natsURLs, "--node-id", label, "--nats-replicas", "3",
		"--log-level", "debug") // printed only when the test fails: where an execution went
	if err := waitReady(p, 30*time.Second); err != nil {
		t.Fatalf("%s not ready: %v\n%s", label, err, p.out.String())
	}
	return p
}

// startOn starts a countdown on a node, retrying while the node holds no
// partition yet (UNAVAILABLE right after it joined).
func startOn(t *testing.T, w *wsConn, steps, delayMS int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, err := w.call("workflow.start", map[string]any{"name": "countdown",
			"parameters": map[string]any{"steps": steps, "delay_ms": delayMS}, "subscribe": false})
		if err != nil {
			t.Fatal(err)
		}
		if f.Error == nil {
			var a startAnswer
			if err := json.Unmarshal(f.Response, &a); err != nil {
				t.Fatal(err)
			}
			return a.ExecutionID
		}
		if f.Error.Code != "UNAVAILABLE" || time.Now().After(deadline) {
			t.Fatalf("start: %s: %s", f.Error.Code, f.Error.Message)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterKill9NodeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three weft processes and a NATS cluster")
	}
	ns := natstest.Cluster(t, 3)
	urls := ns[0].URL() + "," + ns[1].URL() + "," + ns[2].URL()
	keys := writeKeys(t)
	nodes := []*weftProc{
		startClusterWeft(t, "node-a", urls, keys),
		startClusterWeft(t, "node-b", urls, keys),
		startClusterWeft(t, "node-c", urls, keys),
	}
	conns := make([]*wsConn, len(nodes))
	for i, n := range nodes {
		conns[i] = mustDial(t, n.addr)
	}
	const perNode, steps, delayMS = 8, 30, 100
	var ids, onA []string
	for i, w := range conns {
		for range perNode {
			id := startOn(t, w, steps, delayMS)
			ids = append(ids, id)
			if i == 0 {
				onA = append(onA, id)
			}
		}
	}
	time.Sleep(time.Second) // steps done everywhere
	killAt := time.Now()
	nodes[0].kill9(t)
	ns[2].Shutdown() // and one NATS server of three: R3 goes on with two
	t.Logf("node-a killed at %s, NATS server 3 stopped at %s", killAt.UTC().Format("15:04:05.000"), time.Now().UTC().Format("15:04:05.000"))

	streams, err := collectStreams(nodes[1].addr, ids, 8, time.Now().Add(90*time.Second))
	if err != nil {
		explainUnfinished(t, nodes[2].addr, ids, streams)
		t.Fatal(err)
	}
	var worstResume time.Duration
	for _, id := range ids {
		evs := streams[id]
		if err := checkSeqs(evs); err != nil {
			t.Fatalf("%s: %v\n%s", id, err, dump(evs))
		}
		if n := len(evs); n == 0 || evs[n-1].Type != "execution_completed" {
			t.Fatalf("%s did not complete:\n%s", id, dump(evs))
		}
		ends := map[string]int{}
		for _, e := range evs {
			if e.Type == "task_end" {
				ends[e.Details.StepID]++
			}
		}
		if len(ends) != steps {
			t.Errorf("%s: %d steps ended, want %d", id, len(ends), steps)
		}
		for step, n := range ends {
			if n != 1 {
				t.Errorf("%s: step %s ended %d times (on A: %v)\n%s", id, step, n, slices.Contains(onA, id), dump(evs))
			}
		}
		if gap := resumeGap(evs, killAt); gap > worstResume {
			worstResume = gap
		}
	}
	t.Logf("slowest resume after the kill: %s (%d executions were on the killed node)", worstResume.Round(time.Millisecond), len(onA))
	if worstResume > 15*time.Second {
		t.Errorf("an execution of the killed node resumed %s after the kill, want within 15 s", worstResume)
	}
}

// resumeGap is the time between the kill and the first event stored after
// it, for an execution that had not ended by then.
func resumeGap(evs []event, killAt time.Time) time.Duration {
	for _, e := range evs {
		if e.Timestamp.After(killAt) {
			return e.Timestamp.Sub(killAt)
		}
	}
	return 0
}

// explainUnfinished logs, for each execution whose stream did not end, the
// events the stream delivered and the execution's snapshot as another node
// reads it: whether the execution stalled or only its stream did.
func explainUnfinished(t *testing.T, addr string, ids []string, streams map[string][]event) {
	t.Helper()
	w, err := dialWeft(addr)
	if err != nil {
		t.Logf("explain: %v", err)
		return
	}
	defer w.c.Close()
	for _, id := range ids {
		evs := streams[id]
		if n := len(evs); n > 0 && evs[n-1].Type == "execution_completed" {
			continue
		}
		f, err := w.call("execution.get", map[string]any{"execution_id": id})
		snap := string(f.Response)
		if err != nil {
			snap = err.Error()
		} else if f.Error != nil {
			snap = f.Error.Code + ": " + f.Error.Message
		}
		t.Logf("%s: stream delivered %d events:\n%s\nsnapshot on %s: %s", id, len(evs), dump(evs), addr, snap)
	}
}
