package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/load"
)

// broadcastFlags are `weft bench broadcast`'s own flags, beside the shared
// target flags.
type broadcastFlags struct {
	o         load.BroadcastOptions
	reference bool
	compare   bool
	refMode   string
	rounds    int
}

func benchBroadcast(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft bench broadcast", stderr)
	var t benchTarget
	var f broadcastFlags
	t.register(fs)
	fs.IntVar(&f.o.Members, "members", 1000, "sockets in the room")
	fs.IntVar(&f.o.Broadcasts, "broadcasts", 50, "broadcasts to send")
	fs.Float64Var(&f.o.Rate, "rate", 10, "broadcasts per second")
	fs.IntVar(&f.o.Parallel, "parallel", 64, "dials in flight while joining")
	fs.IntVar(&f.o.MessageBytes, "message-bytes", 0, "pad each broadcast message to this many bytes of JSON (0: {\"n\":b})")
	fs.BoolVar(&f.reference, "reference", false, "start the reference broadcast server (weft bench refserver) on 127.0.0.1 and load it instead of weft")
	fs.BoolVar(&f.compare, "compare", false, "in one run, load a local reference server and a local weft (each its own process) and print both and the ratios")
	fs.StringVar(&f.refMode, "ref-mode", "inline", "the reference server's write mode: inline or writer")
	fs.IntVar(&f.rounds, "rounds", 1, "with --compare: rounds, each loading both servers (order alternates)")
	return newLeaf(fs, leaf{
		name: "broadcast", usage: "weft bench broadcast [flags]", args: exactly(0), long: benchLongHelp,
		help: "N members in one room, B broadcasts: time to the last member, completeness and server CPU per delivery.",
		run: func(ctx context.Context, _ []string) error {
			if f.refMode != "inline" && f.refMode != "writer" {
				return usageError{fmt.Sprintf("--ref-mode %q: want inline or writer", f.refMode)}
			}
			if f.compare || f.reference {
				return runBroadcastLocal(ctx, stdout, stderr, t, f)
			}
			return t.run(ctx, stdout, stderr, func(ctx context.Context, tg load.Target, p load.Progress) (load.Report, error) {
				return load.Broadcast(ctx, tg, f.o, p)
			})
		},
	})
}

// runBroadcastLocal starts the servers itself: the reference alone
// (--reference), or the reference and weft one after the other
// (--compare), each a fresh child process measured on its own.
func runBroadcastLocal(ctx context.Context, stdout, stderr io.Writer, t benchTarget, f broadcastFlags) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	startRef := func() (*benchServer, error) { return startRefserver(ctx, self, f.refMode) }
	startW := func() (*benchServer, error) { return startWeft(ctx, self) }
	var order []func() (*benchServer, error)
	if f.compare {
		for round := range max(f.rounds, 1) {
			if round%2 == 0 {
				order = append(order, startRef, startW)
			} else {
				order = append(order, startW, startRef)
			}
		}
	} else {
		order = append(order, startRef)
	}
	var runs []broadcastRun
	var errs []error
	for i, start := range order {
		if ctx.Err() != nil {
			break
		}
		run := broadcastRun{Round: i/2 + 1}
		srv, err := start()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		run.Server = srv.name
		progress := func(line string) { fmt.Fprintf(stderr, "\r\033[K%s: %s", srv.name, line) }
		report, err := load.Broadcast(ctx, srv.target, f.o, progress)
		fmt.Fprintln(stderr)
		srv.stop()
		if err != nil {
			run.Err = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", srv.name, err))
		} else {
			report.Params["server"] = srv.name
			run.Report = &report
			if report.Errors > 0 {
				errs = append(errs, fmt.Errorf("%s: %d errors", srv.name, report.Errors))
			}
		}
		runs = append(runs, run)
		// Let the client's sockets and memory from this run go before
		// the next server is measured.
		runtime.GC()
		time.Sleep(time.Second)
	}
	out := broadcastComparison{Runs: runs, Ratio: ratios(runs)}
	if t.json {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
	} else {
		out.writeTable(stdout, f.o)
	}
	return errors.Join(errs...)
}

// broadcastRun is one server loaded once.
type broadcastRun struct {
	Server string       `json:"server"`
	Round  int          `json:"round"`
	Report *load.Report `json:"report,omitempty"`
	Err    string       `json:"error,omitempty"`
}

// broadcastComparison is --compare's output: every run, and weft's
// figures over the reference's (medians over the rounds).
type broadcastComparison struct {
	Runs  []broadcastRun     `json:"runs"`
	Ratio map[string]float64 `json:"weft_over_reference,omitempty"`
}

// figures of one run that the comparison shows.
func (r broadcastRun) figures() (p50, p99, cpu, perDelivery float64, ok bool) {
	if r.Report == nil {
		return 0, 0, 0, 0, false
	}
	s := r.Report.Latencies["broadcast_to_last_member"]
	if c := r.Report.ServerCPU; c != nil {
		cpu, perDelivery = c.Seconds, c.MicrosPerDelivery
	}
	return s.P50, s.P99, cpu, perDelivery, true
}

// ratios is weft over the reference for p50, p99, server CPU seconds and
// µs per delivery, each the median over the rounds; nil unless both
// servers have a run.
func ratios(runs []broadcastRun) map[string]float64 {
	med := func(server func(string) bool, pick func(p50, p99, cpu, pd float64) float64) float64 {
		var v []float64
		for _, r := range runs {
			if p50, p99, cpu, pd, ok := r.figures(); ok && server(r.Server) {
				v = append(v, pick(p50, p99, cpu, pd))
			}
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		if n := len(v); n%2 == 0 {
			return (v[n/2-1] + v[n/2]) / 2
		}
		return v[len(v)/2]
	}
	isWeft := func(s string) bool { return s == "weft" }
	isRef := func(s string) bool { return s != "weft" }
	out := map[string]float64{}
	for name, pick := range map[string]func(p50, p99, cpu, pd float64) float64{
		"p50":             func(p50, _, _, _ float64) float64 { return p50 },
		"p99":             func(_, p99, _, _ float64) float64 { return p99 },
		"server_cpu_s":    func(_, _, cpu, _ float64) float64 { return cpu },
		"us_per_delivery": func(_, _, _, pd float64) float64 { return pd },
	} {
		if w, r := med(isWeft, pick), med(isRef, pick); w > 0 && r > 0 {
			out[name] = w / r
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (c broadcastComparison) writeTable(w io.Writer, o load.BroadcastOptions) {
	for _, r := range c.Runs {
		if r.Report != nil {
			r.Report.WriteTable(w)
		}
	}
	fmt.Fprintf(w, "\nbroadcast: %d members, %d broadcasts at %g/s", o.Members, o.Broadcasts, o.Rate)
	if o.MessageBytes > 0 {
		fmt.Fprintf(w, ", %d-byte messages", o.MessageBytes)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-20s %5s %9s %9s %9s %9s %12s %12s %6s %9s %8s\n",
		"server", "round", "p50 ms", "p99 ms", "max ms", "sent/s", "server CPU s", "µs/delivery", "cores", "client s", "missing")
	for _, r := range c.Runs {
		if r.Report == nil {
			fmt.Fprintf(w, "  %-20s %5d failed: %s\n", r.Server, r.Round, r.Err)
			continue
		}
		s := r.Report.Latencies["broadcast_to_last_member"]
		var cpu, pd, cores, client float64
		if sc := r.Report.ServerCPU; sc != nil {
			cpu, pd, cores = sc.Seconds, sc.MicrosPerDelivery, sc.Cores
		}
		if cc := r.Report.ClientCPU; cc != nil {
			client = cc.Seconds
		}
		fmt.Fprintf(w, "  %-20s %5d %9.1f %9.1f %9.1f %9.1f %12.3f %12.2f %6.2f %9.2f %8.0f\n",
			r.Server, r.Round, s.P50, s.P99, s.Max, r.Report.Figures["broadcasts_per_second"], cpu, pd, cores, client,
			r.Report.Figures["missing_deliveries"])
	}
	if c.Ratio != nil {
		fmt.Fprintf(w, "  %-20s %5s %8.2fx %8.2fx %9s %9s %11.2fx %11.2fx\n", "weft / reference", "",
			c.Ratio["p50"], c.Ratio["p99"], "", "", c.Ratio["server_cpu_s"], c.Ratio["us_per_delivery"])
	}
}
