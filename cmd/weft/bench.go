package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/load"
)

// benchTarget holds the flags every bench scenario shares.
type benchTarget struct {
	server, token string
	local, json   bool
}

func (b *benchTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&b.server, "server", "http://127.0.0.1:8080", "weft server to load (loopback only)")
	fs.StringVar(&b.token, "token", "", "token with the admin scope")
	fs.BoolVar(&b.local, "local", false, "start a weft server on 127.0.0.1 with a temporary data dir, and load it")
	fs.BoolVar(&b.json, "json", false, "print the report as JSON")
}

// run resolves the target (starting a local server if asked), runs the
// scenario and prints its report.
func (b *benchTarget) run(ctx context.Context, stdout, stderr io.Writer, scenario func(context.Context, load.Target, load.Progress) (load.Report, error)) error {
	target := load.Target{URL: b.server, Token: b.token}
	if b.local {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		srv, err := load.StartLocal(ctx, self)
		if err != nil {
			return err
		}
		defer srv.Stop()
		target = srv.Target
	}
	progress := func(line string) { fmt.Fprintf(stderr, "\r\033[K%s", line) }
	report, err := scenario(ctx, target, progress)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	if b.json {
		return report.WriteJSON(stdout)
	}
	report.WriteTable(stdout)
	if report.Errors > 0 {
		return fmt.Errorf("%d errors", report.Errors)
	}
	return nil
}

func benchCommand(stdout, stderr io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "bench",
		ShortUsage: "weft bench <workflows|connections|stream|broadcast> [flags]",
		ShortHelp:  "Load a weft server over real sockets and report throughput and latency.",
		Subcommands: []*ffcli.Command{
			benchWorkflows(stdout, stderr), benchConnections(stdout, stderr), benchStream(stdout, stderr),
			benchBroadcast(stdout, stderr),
		},
		Exec: func(context.Context, []string) error {
			return usageError{"bench needs a scenario: workflows, connections, stream or broadcast"}
		},
	}
}

func benchWorkflows(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft bench workflows", flag.ContinueOnError)
	var t benchTarget
	t.register(fs)
	var o load.WorkflowsOptions
	fs.IntVar(&o.Clients, "clients", 16, "concurrent sockets, one execution each at a time")
	fs.StringVar(&o.Workflow, "workflow", "countdown", "countdown or echo")
	fs.IntVar(&o.Steps, "steps", 10, "countdown steps (delay 0)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to start executions")
	return &ffcli.Command{
		Name: "workflows", ShortUsage: "weft bench workflows [flags]", FlagSet: fs, Options: envOptions(),
		ShortHelp: "Start countdown or echo executions back to back from many sockets.",
		Exec: func(ctx context.Context, _ []string) error {
			return t.run(ctx, stdout, stderr, func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
				return load.Workflows(ctx, tg, o, p)
			})
		},
	}
}

func benchConnections(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft bench connections", flag.ContinueOnError)
	var t benchTarget
	t.register(fs)
	var o load.ConnectionsOptions
	fs.IntVar(&o.N, "n", 1000, "idle authenticated connections to open")
	fs.IntVar(&o.Parallel, "parallel", 64, "dials in flight at once")
	fs.DurationVar(&o.Hold, "hold", 3*time.Second, "how long to hold them before measuring memory")
	return &ffcli.Command{
		Name: "connections", ShortUsage: "weft bench connections [flags]", FlagSet: fs, Options: envOptions(),
		ShortHelp: "Open N idle sockets; report connect rate and server memory per connection.",
		Exec: func(ctx context.Context, _ []string) error {
			return t.run(ctx, stdout, stderr, func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
				return load.Connections(ctx, tg, o, p)
			})
		},
	}
}

func benchStream(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft bench stream", flag.ContinueOnError)
	var t benchTarget
	t.register(fs)
	var o load.StreamOptions
	fs.IntVar(&o.Events, "events", 20000, "llm_delta events in the execution")
	fs.IntVar(&o.ChunkBytes, "chunk-bytes", 16, "bytes per delta")
	return &ffcli.Command{
		Name: "stream", ShortUsage: "weft bench stream [flags]", FlagSet: fs, Options: envOptions(),
		ShortHelp: "One socket, one execution streaming many llm_delta events: events/s and delivery latency.",
		Exec: func(ctx context.Context, _ []string) error {
			return t.run(ctx, stdout, stderr, func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
				return load.Stream(ctx, tg, o, p)
			})
		},
	}
}

func benchBroadcast(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft bench broadcast", flag.ContinueOnError)
	var t benchTarget
	t.register(fs)
	var o load.BroadcastOptions
	fs.IntVar(&o.Members, "members", 1000, "sockets in the room")
	fs.IntVar(&o.Broadcasts, "broadcasts", 50, "broadcasts to send")
	fs.Float64Var(&o.Rate, "rate", 10, "broadcasts per second")
	fs.IntVar(&o.Parallel, "parallel", 64, "dials in flight while joining")
	return &ffcli.Command{
		Name: "broadcast", ShortUsage: "weft bench broadcast [flags]", FlagSet: fs, Options: envOptions(),
		ShortHelp: "N members in one room, B broadcasts: time to the last member, and completeness.",
		Exec: func(ctx context.Context, _ []string) error {
			return t.run(ctx, stdout, stderr, func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
				return load.Broadcast(ctx, tg, o, p)
			})
		},
	}
}
