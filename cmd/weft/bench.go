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
	pid           int
}

func (b *benchTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&b.server, "server", defaultServer, "weft server to load, on loopback only: http://127.0.0.1:port, ws://..., or 127.0.0.1:port")
	fs.StringVar(&b.token, "token", "", "token with the admin scope")
	fs.BoolVar(&b.local, "local", false, "start a weft server on 127.0.0.1 with a temporary data dir, and load it")
	fs.BoolVar(&b.json, "json", false, "print the report as JSON")
	fs.IntVar(&b.pid, "server-pid", 0, "pid of --server's process on this machine: its memory and CPU come from /proc (with --local: the started server)")
}

// run resolves the target (starting a local server if asked), runs the
// scenario and prints its report.
func (b *benchTarget) run(ctx context.Context, stdout, stderr io.Writer, scenario func(context.Context, load.Target, load.Progress) (load.Report, error)) error {
	addr, err := serverAddress(b.server)
	if err != nil {
		return err
	}
	target := load.Target{URL: addr.HTTP(), Token: b.token, PID: b.pid}
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
		ShortUsage: "weft bench <workflows|connections|stream|broadcast|refserver> [flags]",
		ShortHelp:  "Load a weft server over real sockets and report throughput and latency.",
		Subcommands: []*ffcli.Command{
			benchWorkflows(stdout, stderr), benchConnections(stdout, stderr), benchStream(stdout, stderr),
			benchBroadcast(stdout, stderr), benchRefserver(stdout, stderr),
		},
		Exec: func(context.Context, []string) error {
			return usageError{"bench needs a scenario: workflows, connections, stream, broadcast or refserver"}
		},
	}
}

// scenario builds one bench subcommand: its own flags, the shared target
// flags, and the scenario to run.
func scenario(stdout, stderr io.Writer, name, help string, flags func(*flag.FlagSet),
	run func(context.Context, load.Target, load.Progress) (load.Report, error)) *ffcli.Command {
	fs := newFlags("weft bench "+name, stderr)
	var t benchTarget
	t.register(fs)
	flags(fs)
	return newLeaf(fs, leaf{
		name: name, usage: "weft bench " + name + " [flags]", help: help, args: exactly(0),
		run: func(ctx context.Context, _ []string) error { return t.run(ctx, stdout, stderr, run) },
	})
}

func benchWorkflows(stdout, stderr io.Writer) *ffcli.Command {
	var o load.WorkflowsOptions
	return scenario(stdout, stderr, "workflows", "Start countdown or echo executions back to back from many sockets.",
		func(fs *flag.FlagSet) {
			fs.IntVar(&o.Clients, "clients", 16, "concurrent sockets, one execution each at a time")
			fs.StringVar(&o.Workflow, "workflow", "countdown", "countdown or echo")
			fs.IntVar(&o.Steps, "steps", 10, "countdown steps (delay 0)")
			fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to start executions")
		},
		func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
			return load.Workflows(ctx, tg, o, p)
		})
}

func benchConnections(stdout, stderr io.Writer) *ffcli.Command {
	var o load.ConnectionsOptions
	return scenario(stdout, stderr, "connections", "Open N idle sockets; report connect rate and server memory per connection.",
		func(fs *flag.FlagSet) {
			fs.IntVar(&o.N, "n", 1000, "idle authenticated connections to open")
			fs.IntVar(&o.Parallel, "parallel", 64, "dials in flight at once")
			fs.DurationVar(&o.Hold, "hold", 3*time.Second, "how long to hold them before measuring memory")
		},
		func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
			return load.Connections(ctx, tg, o, p)
		})
}

func benchStream(stdout, stderr io.Writer) *ffcli.Command {
	var o load.StreamOptions
	return scenario(stdout, stderr, "stream", "One socket, one execution streaming many llm_delta events: events/s and delivery latency.",
		func(fs *flag.FlagSet) {
			fs.IntVar(&o.Events, "events", 20000, "llm_delta events in the execution")
			fs.IntVar(&o.ChunkBytes, "chunk-bytes", 16, "bytes per delta")
		},
		func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
			return load.Stream(ctx, tg, o, p)
		})
}
