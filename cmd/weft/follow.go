package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft"
)

// eventData is the data of an event frame.
type eventData struct {
	Timestamp   time.Time       `json:"timestamp"`
	ExecutionID string          `json:"execution_id"`
	Seq         uint64          `json:"seq"`
	Details     json.RawMessage `json:"details"`
	Replay      bool            `json:"replay"`
}

// eventPrinter prints event frames: one line each, or the frame's JSON
// with --json. LLM deltas are folded into the line of their llm_start so
// a streamed answer reads as text, not as one line per token.
type eventPrinter struct {
	w        io.Writer
	json     bool
	inDelta  bool
	outcome  string // type of the terminal event seen, if any
	lastSeq  uint64
	terminal bool
}

func (p *eventPrinter) print(f sockFrame) {
	if f.Type == "" {
		return
	}
	var d eventData
	_ = json.Unmarshal(f.Data, &d)
	p.lastSeq = max(p.lastSeq, d.Seq)
	switch f.Type {
	case "execution_completed", "execution_failed", "execution_cancelled":
		p.outcome, p.terminal = f.Type, true
	}
	if p.json {
		raw, _ := json.Marshal(struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}{f.Type, f.Data})
		fmt.Fprintln(p.w, string(raw))
		return
	}
	if f.Type == "llm_delta" {
		var delta struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(d.Details, &delta)
		if !p.inDelta {
			fmt.Fprint(p.w, "      ")
			p.inDelta = true
		}
		fmt.Fprint(p.w, delta.Text)
		return
	}
	if p.inDelta {
		fmt.Fprintln(p.w)
		p.inDelta = false
	}
	fmt.Fprintf(p.w, "%4d  %s  %-20s %s\n", d.Seq, d.Timestamp.Local().Format("15:04:05.000"), f.Type, oneLine(d.Details, 160))
}

// result maps the terminal event to the exit status of start and rerun.
func (p *eventPrinter) result() error {
	switch p.outcome {
	case "execution_completed":
		return nil
	case "":
		return errors.New("stream ended before the execution did")
	default:
		return fmt.Errorf("execution ended with %s", p.outcome)
	}
}

func tailCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft tail", stderr)
	var t target
	t.register(fs, false, true)
	after := fs.Uint64("after-seq", 0, "start after this seq (0: from the first event)")
	return newLeaf(fs, leaf{
		name: "tail", usage: "weft tail ID [--after-seq N] [--json]", args: exactly(1),
		help: "Print an execution's events, stored then live, until it ends; reconnects and resumes after a drop.",
		run: func(ctx context.Context, args []string) error {
			p := &eventPrinter{w: stdout, json: t.json, lastSeq: *after}
			return tail(ctx, &t, args[0], p, stderr)
		},
	})
}

// tail subscribes after p.lastSeq and, when the connection drops, dials
// again and resubscribes after the last seq printed: execution.subscribe
// guarantees no gap and no duplicate, so the output is the same as if
// nothing had happened. It gives up on errors the server answered (an
// unknown execution, a bad token) and when ctx ends.
func tail(ctx context.Context, t *target, id string, p *eventPrinter, stderr io.Writer) error {
	backoff := 250 * time.Millisecond
	for {
		err := tailOnce(ctx, t, id, p)
		if err == nil || p.terminal || ctx.Err() != nil {
			return err
		}
		var remote *remoteError
		var usage usageError
		if errors.As(err, &remote) || errors.As(err, &usage) {
			return err
		}
		fmt.Fprintf(stderr, "weft: connection lost (%v); resuming after seq %d\n", err, p.lastSeq)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func tailOnce(ctx context.Context, t *target, id string, p *eventPrinter) error {
	s, err := t.dial(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.stream("execution.subscribe", map[string]any{"execution_id": id, "after_seq": p.lastSeq}, func(f sockFrame) error {
		p.print(f)
		return nil
	})
}

func startCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft start", stderr)
	var t target
	t.register(fs, false, true)
	detach := fs.Bool("detach", false, "print the execution id and return without following it")
	idem := fs.String("idempotency-key", "", "idempotency key of the start")
	return newLeaf(fs, leaf{
		name: "start", usage: "weft start NAME [JSON] [--detach] [--idempotency-key K] [--json]", args: between(1, 2),
		help: "Start a workflow and print its events until it ends (exit 0 completed, 1 failed or cancelled).",
		run: func(ctx context.Context, args []string) error {
			params := json.RawMessage("{}")
			if len(args) == 2 {
				params = json.RawMessage(args[1])
				if !json.Valid(params) {
					return usageError{"parameters must be JSON, got " + args[1]}
				}
			}
			req := map[string]any{"name": args[0], "parameters": params, "idempotency_key": *idem, "subscribe": !*detach}
			return followStart(ctx, &t, "workflow.start", req, stdout, stderr)
		},
	})
}

// followStart sends a request that starts an execution and streams it
// (workflow.start, execution.rerun), printing events until the end. If
// the connection drops mid-way it carries on with tail.
func followStart(ctx context.Context, t *target, service string, req any, stdout, stderr io.Writer) error {
	s, err := t.dial(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	p := &eventPrinter{w: stdout, json: t.json}
	var started struct {
		ExecutionID string `json:"execution_id"`
		Status      string `json:"status"`
	}
	err = s.stream(service, req, func(f sockFrame) error {
		if f.Response != nil {
			if err := json.Unmarshal(f.Response, &started); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "execution %s %s\n", started.ExecutionID, started.Status)
			if f.Complete { // --detach
				fmt.Fprintln(stdout, started.ExecutionID)
			}
			return nil
		}
		p.print(f)
		return nil
	})
	if f, ok := req.(map[string]any); ok && f["subscribe"] == false {
		return err
	}
	var remote *remoteError
	if err != nil && started.ExecutionID != "" && !errors.As(err, &remote) && ctx.Err() == nil {
		fmt.Fprintf(stderr, "weft: connection lost (%v); resuming after seq %d\n", err, p.lastSeq)
		err = tail(ctx, t, started.ExecutionID, p, stderr)
	}
	if err != nil {
		return err
	}
	return p.result()
}

func cancelCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft cancel", stderr)
	var t target
	t.register(fs, false, false)
	reason := fs.String("reason", "", "reason recorded in execution_cancelled")
	return newLeaf(fs, leaf{
		name: "cancel", usage: "weft cancel ID [--reason R]", args: exactly(1),
		help: "Cancel an execution.",
		run: func(ctx context.Context, args []string) error {
			return cancelExecution(ctx, &t, stdout, args[0], *reason)
		},
	})
}

func signalCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft signal", stderr)
	var t target
	t.register(fs, false, false)
	return newLeaf(fs, leaf{
		name: "signal", usage: "weft signal ID NAME [JSON]", args: between(2, 3),
		help: "Send a signal (with a JSON payload) to an execution.",
		run: func(ctx context.Context, args []string) error {
			var payload json.RawMessage
			if len(args) == 3 {
				payload = json.RawMessage(args[2])
				if !json.Valid(payload) {
					return usageError{"payload must be JSON, got " + args[2]}
				}
			}
			return signalExecution(ctx, &t, stdout, args[0], args[1], payload)
		},
	})
}

// endedError says that an execution had ended, so a command did nothing
// (exit 1).
func endedError(id string, status weft.Status, what string) error {
	return fmt.Errorf("execution %s has already ended (%s): %s", id, status, what)
}

// cancelExecution cancels id and prints the answer as JSON. An execution
// that has ended is left as it is, and said so (exit 1). The server answers
// such a cancel with the final status, which for "cancelled" reads the same
// as cancelling a queued execution: the status read first tells them apart.
func cancelExecution(ctx context.Context, t *target, stdout io.Writer, id, reason string) error {
	s, err := t.dial(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var before struct {
		Status weft.Status `json:"status"`
	}
	if err := s.call("execution.get", map[string]string{"execution_id": id}, &before); err == nil && before.Status.Terminal() {
		return endedError(id, before.Status, "nothing to cancel")
	}
	var resp json.RawMessage
	if err := s.call("execution.cancel", map[string]string{"execution_id": id, "reason": reason}, &resp); err != nil {
		return err
	}
	var res struct {
		Status weft.Status `json:"status"`
	}
	_ = json.Unmarshal(resp, &res)
	if res.Status.Terminal() && !(res.Status == weft.StatusCancelled && before.Status == weft.StatusQueued) {
		return endedError(id, res.Status, "nothing to cancel")
	}
	fmt.Fprintln(stdout, string(resp))
	return nil
}

// signalExecution sends a signal and prints the answer as JSON; a signal
// an ended execution did not take is said so (exit 1).
func signalExecution(ctx context.Context, t *target, stdout io.Writer, id, name string, payload json.RawMessage) error {
	s, err := t.dial(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var resp json.RawMessage
	if err := s.call("execution.signal", map[string]any{"execution_id": id, "name": name, "payload": payload}, &resp); err != nil {
		return err
	}
	var res struct {
		Delivered bool        `json:"delivered"`
		Status    weft.Status `json:"status"`
	}
	_ = json.Unmarshal(resp, &res)
	if !res.Delivered {
		if res.Status == "" {
			return fmt.Errorf("execution %s did not take signal %q", id, name)
		}
		return endedError(id, res.Status, fmt.Sprintf("signal %q not delivered", name))
	}
	fmt.Fprintln(stdout, string(resp))
	return nil
}

func rerunCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft rerun", stderr)
	var t target
	t.register(fs, false, true)
	from := fs.Int("from-step", 0, "first top-level step to run again; the recorded results of the steps before it are reused")
	detach := fs.Bool("detach", false, "print the new execution id and return without following it")
	return newLeaf(fs, leaf{
		name: "rerun", usage: "weft rerun ID --from-step N [--detach] [--json]", args: exactly(1),
		help: "Start a new execution of the same workflow and input, reusing the steps before N.",
		run: func(ctx context.Context, args []string) error {
			if *from < 1 {
				return usageError{"--from-step must be 1 or more"}
			}
			req := map[string]any{"execution_id": args[0], "from_step": *from, "subscribe": !*detach}
			return followStart(ctx, &t, "execution.rerun", req, stdout, stderr)
		},
	})
}

func replayCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft replay", stderr)
	var t target
	t.register(fs, false, true)
	speed := fs.Float64("speed", 0, "0: as fast as possible; 1: original timing (each gap capped at 5s)")
	return newLeaf(fs, leaf{
		name: "replay", usage: "weft replay ID [--speed 0|1] [--json]", args: exactly(1),
		help: "Re-stream an execution's stored events (execution.replay).",
		run: func(ctx context.Context, args []string) error {
			if *speed != 0 && *speed != 1 {
				return usageError{"--speed must be 0 or 1"}
			}
			s, err := t.dial(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			p := &eventPrinter{w: stdout, json: t.json}
			err = s.stream("execution.replay", map[string]any{"execution_id": args[0], "speed": *speed}, func(f sockFrame) error {
				p.print(f)
				return nil
			})
			if p.inDelta {
				fmt.Fprintln(stdout)
			}
			return err
		},
	})
}
