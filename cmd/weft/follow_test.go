package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/internal/logbuf"
	"github.com/weft-run/weft/internal/tcpproxy"
)

// runAsync runs a command line in the background; its exit code arrives
// on the channel.
func runAsync(t *testing.T, stdout, stderr *logbuf.Buffer, args ...string) <-chan int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan int, 1)
	go func() {
		defer cancel()
		done <- run(ctx, args, stdout, stderr)
	}()
	return done
}

// waitOutput waits until b holds want.
func waitOutput(t *testing.T, b *logbuf.Buffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(b.String(), want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, b.String())
		}
	}
}

// checkSeqs fails unless the JSON lines are events seq 1..n, once each, in
// order, ending with last.
func checkSeqs(t *testing.T, out, last string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, line := range lines {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Seq uint64 `json:"seq"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Data.Seq != uint64(i+1) {
			t.Fatalf("line %d is %s (%v), want seq %d\n%s", i, line, err, i+1, out)
		}
		if i == len(lines)-1 && ev.Type != last {
			t.Fatalf("last event %s, want %s", ev.Type, last)
		}
	}
}

// TestFollowResumesAcrossDrops: start and tail keep following an
// execution when their connection is cut (twice): the client dials again
// and resubscribes after the last event, so the output has every event
// once, in order, and stderr says what happened.
func TestFollowResumesAcrossDrops(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	p, err := tcpproxy.New(s.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	t.Setenv("WEFT_SERVER", p.Addr()) // a bare host:port
	t.Setenv("WEFT_TOKEN", "tok-ops")

	var startOut, startErr, tailOut, tailErr logbuf.Buffer
	started := runAsync(t, &startOut, &startErr, "start", "countdown", `{"steps":60,"delay_ms":30}`, "--json")
	waitOutput(t, &startOut, `"seq":3,`)
	id := strings.Fields(startErr.String())[1]
	tailed := runAsync(t, &tailOut, &tailErr, "tail", id, "--json")
	waitOutput(t, &tailOut, `"seq":5,`)
	p.Cut()
	waitOutput(t, &startOut, `"seq":20,`)
	waitOutput(t, &tailOut, `"seq":20,`)
	p.Cut()

	for name, c := range map[string]struct {
		done     <-chan int
		out, err *logbuf.Buffer
	}{"start": {started, &startOut, &startErr}, "tail": {tailed, &tailOut, &tailErr}} {
		if code := <-c.done; code != exitOK {
			t.Fatalf("%s: exit %d\n%s", name, code, c.err.String())
		}
		checkSeqs(t, c.out.String(), "execution_completed")
		if n := strings.Count(c.err.String(), "weft: connection lost"); n != 2 || !strings.Contains(c.err.String(), "; resuming after seq ") {
			t.Errorf("%s: stderr says %d drops:\n%s", name, n, c.err.String())
		}
	}
}
