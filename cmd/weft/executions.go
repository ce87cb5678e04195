package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

func executionsCommand(stdout, stderr io.Writer) *ffcli.Command {
	return newGroup("executions", "List executions, show one with its steps, or delete ended ones.",
		executionsLs(stdout, stderr), executionsShow(stdout, stderr), executionsRm(stdout, stderr))
}

// lsFilter selects executions for ls, rm, export and replay-check.
type lsFilter struct {
	status, workflow, since string
	metadata                metadataFilter
	limit                   int
}

func (f *lsFilter) register(fs *flag.FlagSet, limit int) {
	fs.StringVar(&f.status, "status", "", "only this status (queued, running, waiting, completed, failed, cancelled)")
	fs.StringVar(&f.workflow, "workflow", "", "only this workflow")
	fs.StringVar(&f.since, "since", "", "only executions created since (a duration like 24h, or an RFC 3339 time)")
	fs.Var(&f.metadata, "metadata", "only executions whose metadata has KEY=VALUE (repeat for several; e.g. weft_bench=<run id>)")
	fs.IntVar(&f.limit, "limit", limit, "at most this many (newest first; 0: no limit)")
}

// any says whether a filter flag was given (the limit aside).
func (f *lsFilter) any() bool {
	return f.status != "" || f.workflow != "" || f.since != "" || len(f.metadata) > 0
}

// keeper is the filter as a predicate.
func (f *lsFilter) keeper(since time.Time) func(actors.Snapshot) bool {
	return func(s actors.Snapshot) bool {
		return (f.status == "" || string(s.Status) == f.status) && (f.workflow == "" || s.Workflow == f.workflow) &&
			(since.IsZero() || !s.CreatedAt.Before(since)) && f.metadata.matches(s.Metadata)
	}
}

// metadataFilter is --metadata KEY=VALUE, repeated: every pair must match.
type metadataFilter [][2]string

func (m *metadataFilter) String() string {
	if m == nil {
		return ""
	}
	pairs := make([]string, len(*m))
	for i, kv := range *m {
		pairs[i] = kv[0] + "=" + kv[1]
	}
	return strings.Join(pairs, ",")
}

func (m *metadataFilter) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	*m = append(*m, [2]string{k, v})
	return nil
}

// matches reports whether an execution's metadata (a JSON object) holds
// every pair, as the server's executions.list filter decides
// (persistence.ListFilter.MatchMetadata): a string value equal to VALUE,
// or another JSON value spelt VALUE (weft_bench=x, from_step=3, ok=true).
func (m metadataFilter) matches(metadata json.RawMessage) bool {
	return persistence.ListFilter{Metadata: m.asMap()}.MatchMetadata(metadata)
}

// asMap is the filter as executions.list's metadata (nil when empty).
func (m metadataFilter) asMap() map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, kv := range m {
		out[kv[0]] = kv[1]
	}
	return out
}

// check reads the filter's flags: the --since bound, or a usage error.
func (f *lsFilter) check() (since time.Time, err error) {
	since, err = parseSince(f.since)
	if err != nil {
		return since, err
	}
	if f.status != "" && !weft.Status(f.status).Valid() {
		return since, usageError{fmt.Sprintf("--status %q is not a status", f.status)}
	}
	return since, nil
}

// list returns the matching executions, newest first, from the server or
// the data dir.
func (f *lsFilter) list(ctx context.Context, t *target) ([]actors.Snapshot, error) {
	since, err := f.check()
	if err != nil {
		return nil, err
	}
	keep := f.keeper(since)
	if t.dataDir != "" {
		st, err := openDataDir(t.dataDir)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return f.listStore(ctx, st, keep)
	}
	c, err := t.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	return f.listServer(ctx, c, since, keep)
}

// listServer is list over a connection: executions.list pages, newest
// first, until the filter's limit or --since.
func (f *lsFilter) listServer(ctx context.Context, c *client.Client, since time.Time, keep func(actors.Snapshot) bool) ([]actors.Snapshot, error) {
	var out []actors.Snapshot
	// The server filters (the metadata too, so --metadata pages through
	// matches only); keep checks again what an older server may ignore.
	req := map[string]any{"status": f.status, "workflow": f.workflow, "limit": 1000}
	if m := f.metadata.asMap(); m != nil {
		req["metadata"] = m
	}
	if !since.IsZero() {
		req["created_after"] = since.UTC().Format(time.RFC3339Nano)
	}
	pace := pacerFor(c)
	for {
		var page actors.ListResult
		if err := pace.wait(ctx); err != nil {
			return nil, err
		}
		if err := c.Call(ctx, "executions.list", req, &page); err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			if !since.IsZero() && item.CreatedAt.Before(since) {
				return out, nil // newest first: the rest is older
			}
			if keep(item) {
				out = append(out, item)
			}
			if f.limit > 0 && len(out) == f.limit {
				return out, nil
			}
		}
		if page.NextCursor == "" {
			return out, nil
		}
		req["cursor"] = page.NextCursor
	}
}

// listStore is list over an open store (a data dir).
func (f *lsFilter) listStore(ctx context.Context, st *persistence.Store, keep func(actors.Snapshot) bool) ([]actors.Snapshot, error) {
	var out []actors.Snapshot
	err := st.Scan(ctx, func(e persistence.Execution) error {
		if s := snapshotOf(e); keep(s) {
			out = append(out, s)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b actors.Snapshot) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ExecutionID, b.ExecutionID)
	})
	if f.limit > 0 && len(out) > f.limit {
		out = out[:f.limit]
	}
	return out, err
}

func snapshotOf(e persistence.Execution) actors.Snapshot {
	return actors.Snapshot{
		ExecutionID: e.ID, Status: e.Status, Workflow: e.Workflow, Parameters: e.Parameters, Metadata: e.Metadata,
		Result: e.Result, Error: e.Error, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, LastSeq: e.LastSeq,
	}
}

func executionsLs(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft executions ls", stderr)
	var t target
	t.register(fs, true, true)
	var f lsFilter
	f.register(fs, 50)
	return newLeaf(fs, leaf{
		name: "ls", usage: "weft executions ls [--status S] [--workflow W] [--since 24h] [--json]", args: exactly(0),
		help: "List executions, newest first.",
		run: func(ctx context.Context, _ []string) error {
			items, err := f.list(ctx, &t)
			if err != nil {
				return err
			}
			if t.json {
				return writeJSON(stdout, map[string]any{"items": nonNil(items)})
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EXECUTION\tWORKFLOW\tSTATUS\tCREATED\tDURATION\tEVENTS")
			for _, s := range items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", s.ExecutionID, s.Workflow, s.Status,
					s.CreatedAt.Local().Format("2006-01-02 15:04:05"), duration(s), s.LastSeq)
			}
			return tw.Flush()
		},
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// duration is how long an ended execution ran ("-" while it runs).
func duration(s actors.Snapshot) string {
	if !s.Status.Terminal() {
		return "-"
	}
	return s.UpdatedAt.Sub(s.CreatedAt).Round(time.Millisecond).String()
}

func executionsShow(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft executions show", stderr)
	var t target
	t.register(fs, true, true)
	return newLeaf(fs, leaf{
		name: "show", usage: "weft executions show ID [--json]", args: exactly(1),
		help: "Show an execution: parameters, outcome, and each step with its timing.",
		run: func(ctx context.Context, args []string) error {
			snap, err := getSnapshot(ctx, &t, args[0])
			if err != nil {
				return err
			}
			if t.json {
				return writeJSON(stdout, snap)
			}
			printSnapshot(stdout, snap)
			return nil
		},
	})
}

// getSnapshot reads one execution with its steps in step order.
func getSnapshot(ctx context.Context, t *target, id string) (shownSnapshot, error) {
	if t.dataDir == "" {
		var snap shownSnapshot
		err := t.call(ctx, "execution.get", map[string]string{"execution_id": id}, &snap)
		return snap, err
	}
	st, err := openDataDir(t.dataDir)
	if err != nil {
		return shownSnapshot{}, err
	}
	defer st.Close()
	e, err := st.Execution(ctx, id)
	if err != nil {
		return shownSnapshot{}, err
	}
	steps, err := st.Steps(ctx, id)
	if err != nil {
		return shownSnapshot{}, err
	}
	snap := shownSnapshot{Snapshot: snapshotOf(e)}
	for _, s := range steps {
		snap.Steps = append(snap.Steps, s)
	}
	slices.SortFunc(snap.Steps, func(a, b persistence.Step) int { return workflows.CompareStepIDs(a.ID, b.ID) })
	return snap, nil
}

// shownSnapshot is a snapshot as show reads it: a cancelled execution's
// reason may come as "reason" beside the snapshot's fields.
type shownSnapshot struct {
	actors.Snapshot
	Reason string `json:"reason,omitempty"`
}

// cancelReason is why a cancelled execution was cancelled, as its snapshot
// says: its reason, else its error's message (with the code, if it says
// more than CANCELLED).
func cancelReason(s shownSnapshot) string {
	switch {
	case s.Reason != "":
		return s.Reason
	case s.Error != nil && s.Error.Message != "" && s.Error.Code != "" && s.Error.Code != "CANCELLED":
		return s.Error.Message + " (" + s.Error.Code + ")"
	case s.Error != nil && s.Error.Message != "":
		return s.Error.Message
	}
	return "- (none given)"
}

func printSnapshot(w io.Writer, s shownSnapshot) {
	fmt.Fprintf(w, "execution  %s\nworkflow   %s\nstatus     %s\ncreated    %s\nupdated    %s\nduration   %s\nevents     %d\n",
		s.ExecutionID, s.Workflow, s.Status, s.CreatedAt.Local().Format(time.RFC3339Nano),
		s.UpdatedAt.Local().Format(time.RFC3339Nano), duration(s.Snapshot), s.LastSeq)
	fmt.Fprintf(w, "parameters %s\n", oneLine(s.Parameters, 200))
	if len(s.Metadata) > 0 && string(s.Metadata) != "{}" {
		fmt.Fprintf(w, "metadata   %s\n", oneLine(s.Metadata, 200))
	}
	if len(s.Result) > 0 {
		fmt.Fprintf(w, "result     %s\n", oneLine(s.Result, 200))
	}
	switch {
	case s.Status == weft.StatusCancelled:
		fmt.Fprintf(w, "reason     %s\n", cancelReason(s))
	case s.Error != nil:
		fmt.Fprintf(w, "error      %s %s\n", s.Error.Code, s.Error.Message)
	}
	if len(s.Steps) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tNAME\tATTEMPTS\tSTARTED\tDURATION\tOUTPUT / ERROR")
	for _, st := range s.Steps {
		took, out := "-", oneLine(st.Output, 60)
		switch {
		case st.Pending():
			out = "pending"
			if !st.WakeAt.IsZero() {
				out += " until " + st.WakeAt.Local().Format(time.TimeOnly)
			}
		case !st.CompletedAt.IsZero():
			took = st.CompletedAt.Sub(st.StartedAt).Round(time.Millisecond).String()
		}
		if st.Error != nil {
			out = "error: " + strings.TrimSpace(st.Error.Code+" "+st.Error.Message)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.ID, st.Kind, st.Name, strconv.Itoa(st.Attempts),
			st.StartedAt.Local().Format("15:04:05.000"), took, out)
	}
	_ = tw.Flush()
}

// executionsRm deletes ended executions (execution.delete): each with its
// events, steps and idempotency key. By id, a live one is refused
// (CONFLICT: cancel it first); by filter, only ended ones are selected.
func executionsRm(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft executions rm", stderr)
	var t target
	t.register(fs, false, false)
	var f lsFilter
	f.register(fs, 0)
	const usage = "weft executions rm ID... | weft executions rm [--metadata K=V] [--workflow W] [--status S] [--since D]"
	return newLeaf(fs, leaf{
		name: "rm", usage: usage, args: anyArgs(),
		help: "Delete ended executions with their events: these ids, or every ended one the filters select.",
		long: "By id, an execution that has not ended is refused (CONFLICT: cancel it first). With filters\n" +
			"and no id, the ended executions that match are deleted and the others are kept (said on\n" +
			"stderr); e.g. weft executions rm --metadata weft_bench=<run id> removes a bench run's.",
		run: func(ctx context.Context, ids []string) error {
			switch {
			case len(ids) > 0 && f.any():
				return usageError{"give execution ids or filters, not both\nusage: " + usage}
			case len(ids) == 0 && !f.any():
				return usageError{"usage: " + usage}
			}
			since, err := f.check()
			if err != nil {
				return err
			}
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			if len(ids) == 0 {
				if ids, err = endedMatches(ctx, c, &f, since, stderr); err != nil || len(ids) == 0 {
					return err
				}
			}
			return deleteExecutions(ctx, c, ids, stdout, stderr)
		},
	})
}

// endedMatches lists the ids of the ended executions the filter selects,
// saying on stderr how many others it keeps.
func endedMatches(ctx context.Context, c *client.Client, f *lsFilter, since time.Time, stderr io.Writer) ([]string, error) {
	items, err := f.listServer(ctx, c, since, f.keeper(since))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range items {
		if s.Status.Terminal() {
			ids = append(ids, s.ExecutionID)
		}
	}
	if live := len(items) - len(ids); live > 0 {
		fmt.Fprintf(stderr, "weft: %d matching executions have not ended and are kept (cancel them first)\n", live)
	}
	if len(ids) == 0 {
		fmt.Fprintln(stderr, "weft: no ended execution matches")
	}
	return ids, nil
}

// deleteExecutions deletes each id in turn, paced under the server's rate;
// one id's failure is its error, several are counted.
func deleteExecutions(ctx context.Context, c *client.Client, ids []string, stdout, stderr io.Writer) error {
	pace := pacerFor(c)
	failed := 0
	for _, id := range ids {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		if err := c.Delete(ctx, id); err != nil {
			if len(ids) == 1 {
				return err
			}
			fmt.Fprintf(stderr, "weft: %s: %v\n", id, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "deleted %s\n", id)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d executions not deleted", failed, len(ids))
	}
	return nil
}
