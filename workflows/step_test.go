package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/workflows"
)

type counterIn struct {
	N int `json:"n"`
}

func TestRecordedStepsFastForward(t *testing.T) {
	calls := 0
	reg := workflows.NewRegistry()
	workflows.Register(reg, "sum", func(ctx workflows.Context, in counterIn) (int, error) {
		total := 0
		for i := range in.N {
			v, err := workflows.Task(ctx, fmt.Sprintf("add-%d", i), func(context.Context) (int, error) {
				calls++
				return i, nil
			})
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	})

	first := newJournal()
	out, err := execute(t, reg, "sum", `{"n":4}`, first)
	if err != nil || string(out) != "6" {
		t.Fatalf("first run = %s, %v", out, err)
	}
	if calls != 4 || len(first.steps) != 4 {
		t.Fatalf("calls=%d steps=%d, want 4 and 4", calls, len(first.steps))
	}
	if got := strings.Join(first.types(), ","); !strings.HasPrefix(got, "workflow_start,task_start,task_end") {
		t.Fatalf("events = %s", got)
	}

	// A re-run with the first two steps recorded runs only the last two,
	// and emits nothing for the recorded ones (nor workflow_start).
	calls = 0
	second := newJournal(first.steps[:2]...)
	out, err = execute(t, reg, "sum", `{"n":4}`, second)
	if err != nil || string(out) != "6" {
		t.Fatalf("resumed run = %s, %v", out, err)
	}
	if calls != 2 {
		t.Fatalf("resumed run called %d steps, want 2", calls)
	}
	if got, want := strings.Join(second.types(), ","), "task_start,task_end,task_start,task_end"; got != want {
		t.Fatalf("resumed events = %s, want %s", got, want)
	}
	if second.steps[0].ID != "3" || second.steps[1].ID != "4" {
		t.Fatalf("resumed step ids = %s, %s", second.steps[0].ID, second.steps[1].ID)
	}
}

func TestNondeterminismIsDetected(t *testing.T) {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "wf", func(ctx workflows.Context, _ struct{}) (string, error) {
		return workflows.Task(ctx, "renamed", func(context.Context) (string, error) { return "x", nil })
	})
	j := newJournal(persistenceStep("1", "task", "original", `"x"`))
	_, err := execute(t, reg, "wf", `{}`, j)
	var nd *workflows.NondeterminismError
	if !errors.As(err, &nd) || nd.RecordedName != "original" || nd.RequestedName != "renamed" || nd.StepID != "1" {
		t.Fatalf("err = %v, want a NondeterminismError naming both steps", err)
	}
	if info := workflows.ErrorInfo(err); info.Code != "NONDETERMINISM" {
		t.Fatalf("error code = %q", info.Code)
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	attempts := 0
	reg := workflows.NewRegistry()
	workflows.Register(reg, "flaky", func(ctx workflows.Context, _ struct{}) (int, error) {
		return workflows.Task(ctx, "flaky", func(context.Context) (int, error) {
			attempts++
			if attempts < 3 {
				return 0, fmt.Errorf("boom %d", attempts)
			}
			return attempts, nil
		}, workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 5, InitialInterval: time.Millisecond, Multiplier: 2}))
	})
	j := newJournal()
	out, err := execute(t, reg, "flaky", `{}`, j)
	if err != nil || string(out) != "3" {
		t.Fatalf("got %s, %v", out, err)
	}
	want := "workflow_start,task_start,task_error,task_start,task_error,task_start,task_end"
	if got := strings.Join(j.types(), ","); got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	if done := j.completed(); len(done) != 1 || done[0].Attempts != 3 {
		t.Fatalf("completed checkpoints = %+v, want one after 3 attempts", done)
	}
}

func TestStepFailuresAreFinalAndRecorded(t *testing.T) {
	tests := []struct {
		name     string
		fn       func(context.Context) (int, error)
		opts     []workflows.StepOption
		attempts int
		code     string
		message  string
	}{
		{"non-retryable", func(context.Context) (int, error) { return 0, workflows.NonRetryable(errors.New("bad input")) },
			nil, 1, "", "bad input"},
		{"coded and listed", func(context.Context) (int, error) { return 0, workflows.Errorf("QUOTA", "over quota") },
			[]workflows.StepOption{workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 4, InitialInterval: time.Millisecond, NonRetryableCodes: []string{"QUOTA"}})}, 1, "QUOTA", "over quota"},
		{"exhausted", func(context.Context) (int, error) { return 0, errors.New("still down") },
			[]workflows.StepOption{workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond})}, 2, "", "still down"},
		{"panic", func(context.Context) (int, error) { panic("kaboom") },
			[]workflows.StepOption{workflows.WithRetry(workflows.NoRetry)}, 1, "PANIC", "kaboom"},
		{"attempt timeout", func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() },
			[]workflows.StepOption{workflows.WithRetry(workflows.NoRetry), workflows.WithTimeout(10 * time.Millisecond)}, 1, "TIMEOUT", "timed out"},
		{"step timeout", func(ctx context.Context) (int, error) { return 0, errors.New("flap") },
			[]workflows.StepOption{workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 100, InitialInterval: 20 * time.Millisecond}), workflows.WithStepTimeout(50 * time.Millisecond)}, 0, "TIMEOUT", "timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := workflows.NewRegistry()
			workflows.Register(reg, "wf", func(ctx workflows.Context, _ struct{}) (int, error) {
				return workflows.Task(ctx, "step", tc.fn, tc.opts...)
			})
			j := newJournal()
			_, err := execute(t, reg, "wf", `{}`, j)
			var se *workflows.StepError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StepError", err)
			}
			if se.Info.Code != tc.code || !strings.Contains(se.Info.Message, tc.message) {
				t.Fatalf("step error = %+v, want code %q and %q", se.Info, tc.code, tc.message)
			}
			rec := j.steps[len(j.steps)-1]
			if rec.Error == nil || (tc.attempts > 0 && rec.Attempts != tc.attempts) {
				t.Fatalf("checkpoint = %+v, want an error after %d attempts", rec, tc.attempts)
			}
			// Replaying the recorded failure returns the same error without running.
			again := newJournal(rec)
			_, err = execute(t, reg, "wf", `{}`, again)
			if !errors.As(err, &se) || len(again.types()) != 0 {
				t.Fatalf("replay: err=%v events=%v", err, again.types())
			}
		})
	}
}

func TestWorkflowPanicBecomesError(t *testing.T) {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "wf", func(workflows.Context, struct{}) (int, error) { panic("in workflow code") })
	_, err := execute(t, reg, "wf", `{}`, newJournal())
	var p *workflows.PanicError
	if !errors.As(err, &p) || !strings.Contains(err.Error(), "in workflow code") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegistryValidatesParameters(t *testing.T) {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "typed", func(_ workflows.Context, in counterIn) (int, error) { return in.N, nil })
	def, _ := reg.Lookup("typed")
	for _, tc := range []struct {
		params string
		ok     bool
	}{{`{"n":3}`, true}, {``, true}, {`null`, true}, {`{"n":"three"}`, false}, {`[1]`, false}} {
		if err := def.Validate([]byte(tc.params)); (err == nil) != tc.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", tc.params, err, tc.ok)
		}
	}
	if got := string(def.ParametersSchema()); !strings.Contains(got, `"n"`) || !strings.Contains(got, `"integer"`) {
		t.Errorf("schema = %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	workflows.Register(reg, "typed", func(_ workflows.Context, in counterIn) (int, error) { return 0, nil })
}
