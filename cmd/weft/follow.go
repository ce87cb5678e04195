package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/client"
)

// eventPrinter prints events: one line each, or {"type","data"} with the
// data as the server sent it (--json). LLM deltas are folded into the
// line of their llm_start so a streamed answer reads as text, not as one
// line per token.
type eventPrinter struct {
	w       io.Writer
	json    bool
	inDelta bool
	outcome string // type of the terminal event seen, if any
	lastSeq uint64
}

func (p *eventPrinter) print(ev client.Event) {
	p.lastSeq = max(p.lastSeq, ev.Seq)
	if ev.Terminal() {
		p.outcome = ev.Type
	}
	if p.json {
		raw, _ := json.Marshal(struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}{ev.Type, ev.Data})
		fmt.Fprintln(p.w, string(raw))
		return
	}
	if ev.Type == "llm_delta" {
		var delta struct {
			Text string `json:"text"`
		}
		_ = ev.DecodeDetails(&delta)
		if !p.inDelta {
			fmt.Fprint(p.w, "      ")
			p.inDelta = true
		}
		fmt.Fprint(p.w, delta.Text)
		return
	}
	p.endDelta()
	fmt.Fprintf(p.w, "%4d  %s  %-20s %s\n", ev.Seq, ev.Timestamp.Local().Format("15:04:05.000"), ev.Type, oneLine(ev.Details, 160))
}

// endDelta ends a line of streamed LLM text.
func (p *eventPrinter) endDelta() {
	if p.inDelta {
		fmt.Fprintln(p.w)
		p.inDelta = false
	}
}

// follow prints exec's events until it ends (nil) or its stream stops.
func (p *eventPrinter) follow(ctx context.Context, exec *client.Execution) error {
	defer p.endDelta()
	for {
		ev, err := exec.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p.print(ev)
	}
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
			return tail(ctx, &t, args[0], p)
		},
	})
}

// tail follows an execution after p.lastSeq until it ends. When the
// connection drops the client dials again and resubscribes after the last
// event received (execution.subscribe guarantees no gap and no repeat),
// so the output is the same as if nothing had happened. It gives up on
// errors the server answered (an unknown execution, a refused token) and
// when ctx ends.
func tail(ctx context.Context, t *target, id string, p *eventPrinter) error {
	c, err := t.follow(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	exec, err := c.Subscribe(ctx, id, p.lastSeq)
	if err != nil {
		return err
	}
	c.exec.Store(exec)
	return p.follow(ctx, exec)
}

func startCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft start", stderr)
	var t target
	t.register(fs, false, true)
	detach := fs.Bool("detach", false, "print the execution id and return without following it")
	idem := fs.String("idempotency-key", "", "idempotency key of the start")
	flagParams := fs.String("params", "", "workflow parameters, a JSON object (or give them as the second argument)")
	return newLeaf(fs, leaf{
		name: "start", usage: "weft start NAME [JSON | --params JSON] [--detach] [--idempotency-key K] [--json]", args: between(1, 2),
		help: "Start a workflow and print its events until it ends (exit 0 completed, 1 failed or cancelled).",
		run: func(ctx context.Context, args []string) error {
			params, err := startParams(args[1:], *flagParams)
			if err != nil {
				return err
			}
			if *detach {
				req := map[string]any{"name": args[0], "parameters": params, "idempotency_key": *idem, "subscribe": false}
				return startUnfollowed(ctx, &t, "workflow.start", req, stdout)
			}
			return startAndFollow(ctx, &t, args[0], params, *idem, stdout)
		},
	})
}

// startParams takes the parameters from the second argument or --params
// (as schedules create does), not both: "{}" when neither is given.
func startParams(rest []string, flagValue string) (json.RawMessage, error) {
	raw := flagValue
	switch {
	case len(rest) == 1 && flagValue != "":
		return nil, usageError{"parameters given twice: as an argument and as --params"}
	case len(rest) == 1:
		raw = rest[0]
	case raw == "":
		return json.RawMessage("{}"), nil
	}
	if !json.Valid([]byte(raw)) {
		return nil, usageError{"parameters must be JSON, got " + raw}
	}
	return json.RawMessage(raw), nil
}

// started is the answer of a start (workflow.start, execution.rerun).
type started struct {
	ExecutionID string `json:"execution_id"`
	Status      string `json:"status"`
}

// startUnfollowed sends a start that does not stream (subscribe false) and
// prints the new execution's id.
func startUnfollowed(ctx context.Context, t *target, service string, req any, stdout io.Writer) error {
	var res started
	if err := t.call(ctx, service, req, &res); err != nil {
		return err
	}
	fmt.Fprintf(t.stderr, "execution %s %s\n", res.ExecutionID, res.Status)
	fmt.Fprintln(stdout, res.ExecutionID)
	return nil
}

// startAndFollow starts workflow and prints its events until the end
// (across drops: the client's start is idempotent and its stream
// resumes); the exit status is the execution's outcome.
func startAndFollow(ctx context.Context, t *target, workflow string, params json.RawMessage, idem string, stdout io.Writer) error {
	c, err := t.follow(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var opts []client.StartOption
	if idem != "" {
		opts = append(opts, client.WithIdempotencyKey(idem))
	}
	exec, err := c.Start(ctx, workflow, params, opts...)
	if err != nil {
		return err
	}
	c.exec.Store(exec)
	fmt.Fprintf(t.stderr, "execution %s %s\n", exec.ID(), exec.Status())
	p := &eventPrinter{w: stdout, json: t.json}
	if err := p.follow(ctx, exec); err != nil {
		return err
	}
	return p.result()
}

// rerunAndFollow starts a rerun (without its stream) and follows the new
// execution from its first event.
func rerunAndFollow(ctx context.Context, t *target, req map[string]any, stdout io.Writer) error {
	c, err := t.follow(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var res started
	if err := c.Call(ctx, "execution.rerun", req, &res); err != nil {
		return err
	}
	fmt.Fprintf(t.stderr, "execution %s %s\n", res.ExecutionID, res.Status)
	exec, err := c.Subscribe(ctx, res.ExecutionID, 0)
	if err != nil {
		return err
	}
	c.exec.Store(exec)
	p := &eventPrinter{w: stdout, json: t.json}
	if err := p.follow(ctx, exec); err != nil {
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
	c, err := t.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var before struct {
		Status weft.Status `json:"status"`
	}
	if err := c.Call(ctx, "execution.get", map[string]string{"execution_id": id}, &before); err == nil && before.Status.Terminal() {
		return endedError(id, before.Status, "nothing to cancel")
	}
	var resp json.RawMessage
	if err := c.Call(ctx, "execution.cancel", map[string]string{"execution_id": id, "reason": reason}, &resp); err != nil {
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
	var resp json.RawMessage
	if err := t.call(ctx, "execution.signal", map[string]any{"execution_id": id, "name": name, "payload": payload}, &resp); err != nil {
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
			req := map[string]any{"execution_id": args[0], "from_step": *from, "subscribe": false}
			if *detach {
				return startUnfollowed(ctx, &t, "execution.rerun", req, stdout)
			}
			return rerunAndFollow(ctx, &t, req, stdout)
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
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			p := &eventPrinter{w: stdout, json: t.json}
			defer p.endDelta()
			return c.Stream(ctx, "execution.replay", map[string]any{"execution_id": args[0], "speed": *speed}, func(f client.Frame) error {
				if f.Event != nil {
					p.print(*f.Event)
				}
				return nil
			})
		},
	})
}
