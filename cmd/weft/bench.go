package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/load"
)

// benchTarget holds the flags every bench scenario shares.
type benchTarget struct {
	target // --server, --token, --json
	local  bool
	pid    int
}

func (b *benchTarget) register(fs *flag.FlagSet) {
	b.target.register(fs, false, true)
	fs.Lookup("server").Usage = "weft server to load, on loopback only: http://127.0.0.1:port, ws://..., or 127.0.0.1:port"
	fs.Lookup("json").Usage = "print the report as JSON"
	b.needs(fs, "admin (it starts executions, joins rooms, reads server.info)")
	fs.BoolVar(&b.local, "local", false, "start a weft server on 127.0.0.1 with a temporary data dir and its rate limits lifted, and load it")
	fs.IntVar(&b.pid, "server-pid", 0, "pid of --server's process on this machine: its memory and CPU come from /proc (with --local: the started server)")
}

// benchLongHelp is every scenario's paragraph in weft help.
const benchLongHelp = `Against --server (loopback only) each socket is paced under the rate the server
announces in server.info, and every execution started carries the metadata
weft_bench=<run id> (printed; remove them with weft executions rm --metadata
weft_bench=<run id>). --local starts its own server, limits lifted, and removes it
afterwards. A run with errors exits 1 and counts them by kind.`

// benchTag is the metadata key of the executions a bench run starts; its
// value is the run's id.
const benchTag = "weft_bench"

// run resolves the target (starting a local server if asked), runs the
// scenario and prints its report. Errors make it fail (exit 1), with a
// count of each kind.
func (b *benchTarget) run(ctx context.Context, stdout, stderr io.Writer, scenario func(context.Context, load.Target, load.Progress) (load.Report, error)) error {
	runID := newRunID()
	target, stop, err := b.resolve(ctx)
	if err != nil {
		return err
	}
	defer stop()
	target.Metadata = map[string]string{benchTag: runID}
	progress := func(line string) { fmt.Fprintf(stderr, "\r\033[K%s", line) }
	report, err := scenario(ctx, target, progress)
	fmt.Fprintln(stderr)
	if errors.Is(err, load.ErrOverRate) {
		return usageError{err.Error() + ": lower the rate, or use --local (its own server, limits lifted)"}
	}
	if err != nil {
		return err
	}
	report.Params[benchTag] = runID
	if b.json {
		err = report.WriteJSON(stdout)
	} else {
		report.WriteTable(stdout)
	}
	if startsExecutions(report.Scenario) && !b.local {
		fmt.Fprintf(stderr, "its executions carry the metadata %s=%s: remove them with\n    weft executions rm --metadata %s=%s --server %s\n",
			benchTag, runID, benchTag, runID, target.URL)
	}
	if err != nil {
		return err
	}
	return benchErrors(report)
}

// resolve is the server to load: a new local one (--local), or --server
// with the rate limit it announces in server.info, so that the scenario
// keeps every socket under it. stop ends what resolve started.
func (b *benchTarget) resolve(ctx context.Context) (load.Target, func(), error) {
	if b.local {
		self, err := os.Executable()
		if err != nil {
			return load.Target{}, nil, err
		}
		srv, err := load.StartLocal(ctx, self)
		if err != nil {
			return load.Target{}, nil, err
		}
		srv.Target.UserAgent = userAgent()
		return srv.Target, srv.Stop, nil
	}
	addr, err := serverAddress(b.server)
	if err != nil {
		return load.Target{}, nil, err
	}
	t := load.Target{URL: addr.HTTP(), PID: b.pid, UserAgent: userAgent()}
	if err := t.CheckLoopback(); err != nil {
		return load.Target{}, nil, err
	}
	c, err := b.connect(ctx)
	if err != nil {
		return load.Target{}, nil, err
	}
	defer c.Close(context.Background())
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return load.Target{}, nil, fmt.Errorf("server.info: %w", err)
	}
	t.Token, t.Rate = b.token, info.Limits.MessagesPerSecond
	return t, func() {}, nil
}

// newRunID names one bench run: its time and a random part.
func newRunID() string {
	var r [3]byte
	_, _ = rand.Read(r[:])
	return "bench-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(r[:])
}

// startsExecutions says whether a scenario leaves executions behind.
func startsExecutions(scenario string) bool { return scenario == "workflows" || scenario == "stream" }

// benchErrors fails a run that had errors, counting each kind.
func benchErrors(r load.Report) error {
	if r.Errors == 0 {
		return nil
	}
	kinds := make([]string, 0, len(r.ErrorKinds))
	for kind, n := range r.ErrorKinds {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, kind))
	}
	slices.Sort(kinds)
	if len(kinds) == 0 {
		return fmt.Errorf("bench %s: %d errors", r.Scenario, r.Errors)
	}
	return fmt.Errorf("bench %s: %d errors: %s", r.Scenario, r.Errors, strings.Join(kinds, "; "))
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
		name: name, usage: "weft bench " + name + " [flags]", help: help, long: benchLongHelp, args: exactly(0),
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
