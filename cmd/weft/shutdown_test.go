package main_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestGracefulShutdownSIGTERM sends SIGTERM while countdown executions run:
// the process must close sockets with 1001, let the running steps reach
// their checkpoint, and exit 0; after a restart every execution completes
// and no step ran twice (none was cut mid-step).
func TestGracefulShutdownSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dataDir, keys := t.TempDir(), writeKeys(t)
	p := startWeft(t, "first", dataDir, keys)
	w := mustDial(t, p.addr)
	var ids []string
	for range 20 {
		ids = append(ids, startWorkflow(t, w, "countdown", map[string]int{"steps": crashSteps, "delay_ms": crashDelayMS}))
	}
	// Let them get under way.
	deadline := time.Now().Add(10 * time.Second)
	for getExecution(t, w, ids[len(ids)-1]).LastSeq < 8 {
		if time.Now().After(deadline) {
			t.Fatal("executions made no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	termAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The open socket is closed with 1001 (going away).
	_ = w.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := w.c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("socket ended with %v, want close 1001", err)
		}
		break
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("process did not exit after SIGTERM")
	}
	if p.waitErr != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0\n%s", p.waitErr, p.out.String())
	}
	t.Logf("stopped %s after SIGTERM", time.Since(termAt).Round(time.Millisecond))

	p2 := startWeft(t, "second", dataDir, keys)
	streams, err := collectStreams(p2.addr, ids, 10, time.Now().Add(45*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	resumed := 0
	for _, id := range ids {
		r, err := checkCountdown(streams[id], termAt)
		if err != nil {
			t.Fatalf("%s: %v\n%s", id, err, dump(streams[id]))
		}
		if r.rerunSteps != 0 {
			t.Fatalf("%s: %d steps started again: a graceful stop must let running steps finish", id, r.rerunSteps)
		}
		if r.afterKill {
			resumed++
		}
	}
	if resumed == 0 {
		t.Fatal("no execution was resumed after the restart: SIGTERM came too late to test anything")
	}
	t.Logf("%d of %d executions resumed after the restart", resumed, len(ids))
}
