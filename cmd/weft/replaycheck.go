package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/replay"
)

// registry is the workflow code this binary carries: what replay-check
// checks recorded executions against.
func registry() *workflows.Registry {
	reg := workflows.NewRegistry()
	reference.Register(reg)
	return reg
}

func replayCheckCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft replay-check", stderr)
	var t target
	t.register(fs, true, true)
	var f lsFilter
	f.register(fs, 0)
	file := fs.String("file", "", "check the executions of an export file (weft export) instead")
	return newLeaf(fs, leaf{
		name: "replay-check", args: anyArgs(),
		usage: "weft replay-check [ID...] [--workflow W] [--status S] [--data-dir D | --server URL | --file F] [--json]",
		help:  "Replay recorded executions against this binary's workflow code; exit 1 if any diverged.",
		long: "Runs each workflow function against its recorded step results, without running any step\n" +
			"(no side effects), and reports the first step where the code and the recording differ.\n" +
			"An execution of a workflow this binary does not have is \"unknown\", not checked (exit 1):\n" +
			replayCheckHelp + ".",
		run: func(ctx context.Context, args []string) error {
			histories, err := loadHistories(ctx, &t, &f, *file, args, stderr)
			if err != nil {
				return err
			}
			results := checkHistories(ctx, registry(), histories, stderr)
			if t.json {
				if err := writeJSON(stdout, map[string]any{"results": results, "diverged": countVerdict(results, verdictDiverged), "unknown": countVerdict(results, verdictUnknown)}); err != nil {
					return err
				}
			} else {
				printReplayResults(stdout, results)
			}
			return replayOutcome(results)
		},
	})
}

// Verdicts of replay-check.
const (
	verdictOK       = "ok"
	verdictDiverged = "diverged"
	verdictUnknown  = "unknown" // a workflow this binary does not have: not checked
)

// checked is one execution's line of replay-check.
type checked struct {
	replay.Result
	Verdict string `json:"verdict"`
}

// replayCheckHelp says how to check workflows that are not built into weft.
const replayCheckHelp = "weft replay-check knows only the workflows built into this binary; check your own " +
	"with package github.com/weft-run/weft/workflows/replay in a test of your code (README \"Replay check\")"

// checkHistories replays each history against reg. A workflow reg lacks
// is not checked: it is unknown, not diverged.
func checkHistories(ctx context.Context, reg *workflows.Registry, histories []replay.History, stderr io.Writer) []checked {
	results := make([]checked, 0, len(histories))
	bar := &progress{w: stderr, label: "replaying"}
	for i, h := range histories {
		if _, ok := reg.Lookup(h.Execution.Workflow); !ok {
			r := replay.Result{ExecutionID: h.Execution.ID, Workflow: h.Execution.Workflow, Status: h.Execution.Status}
			r.Divergence = &replay.Divergence{Reason: unknownWorkflow(h.Execution.Workflow)}
			results = append(results, checked{Result: r, Verdict: verdictUnknown})
		} else {
			r := replay.Check(ctx, reg, h)
			verdict := verdictOK
			if !r.OK() {
				verdict = verdictDiverged
			}
			results = append(results, checked{Result: r, Verdict: verdict})
		}
		bar.update(i+1, len(histories))
	}
	bar.done()
	return results
}

func unknownWorkflow(name string) string {
	return fmt.Sprintf("unknown workflow %s: this binary does not have it", name)
}

func countVerdict(results []checked, verdict string) int {
	n := 0
	for _, r := range results {
		if r.Verdict == verdict {
			n++
		}
	}
	return n
}

// replayOutcome is replay-check's exit: 1 when an execution diverged or
// could not be checked, saying how many and what to do.
func replayOutcome(results []checked) error {
	var errs []error
	if n := countVerdict(results, verdictDiverged); n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d executions diverged from the current code", n, len(results)))
	}
	if n := countVerdict(results, verdictUnknown); n > 0 {
		var names []string
		for _, r := range results {
			if r.Verdict == verdictUnknown && !slices.Contains(names, r.Workflow) {
				names = append(names, r.Workflow)
			}
		}
		errs = append(errs, fmt.Errorf("%d of %d executions not checked: %s; %s", n, len(results),
			strings.Join(mapNames(names, unknownWorkflow), "; "), replayCheckHelp))
	}
	return errors.Join(errs...)
}

func mapNames(names []string, f func(string) string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = f(n)
	}
	return out
}

func printReplayResults(w io.Writer, results []checked) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXECUTION\tWORKFLOW\tSTATUS\tSTEPS\tREPLAY\tFIRST DIFFERENCE")
	for _, r := range results {
		diff := "-"
		if d := r.Divergence; d != nil {
			diff = d.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ExecutionID, r.Workflow, r.Status, r.Replayed, r.Verdict, diff)
	}
	_ = tw.Flush()
}

// loadHistories gathers recorded executions: the given ids, or those the
// filter selects, from a data dir, a server, or an export file.
func loadHistories(ctx context.Context, t *target, f *lsFilter, file string, ids []string, stderr io.Writer) ([]replay.History, error) {
	if file != "" {
		var out []replay.History
		err := readRecords(file, func(rec persistence.Record) error {
			if len(ids) == 0 || contains(ids, rec.Execution.ID) {
				out = append(out, replay.History{Execution: rec.Execution, Steps: rec.Steps})
			}
			return nil
		})
		return out, err
	}
	if t.dataDir != "" {
		st, err := openDataDir(t.dataDir)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		if len(ids) == 0 {
			since, err := parseSince(f.since)
			if err != nil {
				return nil, err
			}
			snaps, err := f.listStore(ctx, st, f.keeper(since))
			if err != nil {
				return nil, err
			}
			for _, s := range snaps {
				ids = append(ids, s.ExecutionID)
			}
		}
		out := make([]replay.History, 0, len(ids))
		for _, id := range ids {
			rec, err := st.Export(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, replay.History{Execution: rec.Execution, Steps: rec.Steps})
		}
		return out, nil
	}
	if len(ids) == 0 {
		snaps, err := f.list(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			ids = append(ids, s.ExecutionID)
		}
	}
	c, err := t.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	pace := pacerFor(c)
	out := make([]replay.History, 0, len(ids))
	bar := &progress{w: stderr, label: "downloading"}
	for i, id := range ids {
		var snap actors.Snapshot
		if err := pace.wait(ctx); err != nil {
			return nil, err
		}
		if err := c.Call(ctx, "execution.get", map[string]string{"execution_id": id}, &snap); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		out = append(out, replay.History{Execution: executionOf(snap, c.Info().Workspace), Steps: snap.Steps})
		bar.update(i+1, len(ids))
	}
	bar.done()
	return out, nil
}

// executionOf rebuilds an execution record from a snapshot (what a server
// shows a client; the starter and connection are not part of it).
func executionOf(s actors.Snapshot, workspace string) persistence.Execution {
	return persistence.Execution{
		ID: s.ExecutionID, Workspace: workspace, Workflow: s.Workflow, Status: s.Status,
		Parameters: s.Parameters, Metadata: s.Metadata, Result: s.Result, Error: s.Error,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, LastSeq: s.LastSeq,
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readRecords calls fn with each record of a JSON-lines export file.
func readRecords(path string, fn func(persistence.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	for n := 1; dec.More(); n++ {
		var rec persistence.Record
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("%s: record %d: %w", path, n, err)
		}
		if rec.Version != persistence.ExportVersion {
			return fmt.Errorf("%s: record %d has version %d, this weft reads version %d", path, n, rec.Version, persistence.ExportVersion)
		}
		if err := fn(rec); err != nil {
			return fmt.Errorf("%s: record %d (%s): %w", path, n, rec.Execution.ID, err)
		}
	}
	return nil
}
