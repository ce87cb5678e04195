package actors

import (
	"bytes"
	"encoding/json"
	"github.com/weft-run/weft/internal/logbuf"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// logLines decodes zerolog's JSON lines.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestProtoActorDeadLetterAtDebug: the slog bridge logs proto.actor's
// "[DeadLetter]" records at debug (dropped at info), other records at their
// own level.
func TestProtoActorDeadLetterAtDebug(t *testing.T) {
	var info bytes.Buffer
	l := protoActorLogger(zerolog.New(&info).Level(zerolog.InfoLevel))
	l.Info("[DeadLetter]", "pid", "nonhost/connections/c1")
	l.Warn("[DeadLetter]", "throttled", 3)
	l.With("actor", "x").Info("[DeadLetter]")
	l.Info("[ACTOR] started")
	l.Error("[SUPERVISION] failure")
	recs := logLines(t, info.String())
	if len(recs) != 2 || recs[0]["level"] != "info" || recs[0]["message"] != "[ACTOR] started" ||
		recs[1]["level"] != "error" {
		t.Fatalf("at info: %v, want only the two non-DeadLetter records at their levels", recs)
	}

	var debug bytes.Buffer
	l = protoActorLogger(zerolog.New(&debug).Level(zerolog.DebugLevel))
	l.Info("[DeadLetter]", "pid", "nonhost/connections/c1")
	l.Info("[ACTOR] started")
	recs = logLines(t, debug.String())
	if len(recs) != 2 || recs[0]["level"] != "debug" || recs[0]["message"] != "[DeadLetter]" ||
		recs[0]["pid"] != "nonhost/connections/c1" || recs[1]["level"] != "info" {
		t.Fatalf("at debug: %v, want the DeadLetter record at debug, the other at info", recs)
	}
}

// TestProtoActorDeadLetterFromStoppedActor: a message to a stopped actor,
// through a real proto.actor system logging via protoActorLogger, gives a
// debug DeadLetter line and nothing at info.
func TestProtoActorDeadLetterFromStoppedActor(t *testing.T) {
	for _, lvl := range []zerolog.Level{zerolog.DebugLevel, zerolog.InfoLevel} {
		var buf logbuf.Buffer
		zl := zerolog.New(&buf).Level(lvl)
		as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return protoActorLogger(zl)
		}))
		pid := as.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		if err := as.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		as.Root.Send(pid, "hello")
		if lvl == zerolog.DebugLevel {
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(buf.String(), "DeadLetter") {
				if time.Now().After(deadline) {
					t.Fatalf("no DeadLetter line at debug; log:\n%s", buf.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		} else {
			time.Sleep(200 * time.Millisecond)
		}
		as.Shutdown()
		for _, rec := range logLines(t, buf.String()) {
			if strings.Contains(rec["message"].(string), "DeadLetter") && rec["level"] != "debug" {
				t.Errorf("level %s: %v, want DeadLetter at debug", lvl, rec)
			}
		}
		if lvl == zerolog.InfoLevel && strings.Contains(buf.String(), "DeadLetter") {
			t.Errorf("at info the log has a DeadLetter line:\n%s", buf.String())
		}
	}
}
