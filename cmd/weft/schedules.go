package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// `weft schedules ...`: the schedule.* services over the socket, with the
// client commands' flags (PROTOCOL.md section 10).

func schedulesCommand(stdout, stderr io.Writer) *ffcli.Command {
	return newGroup("schedules", "List and manage schedules (cron or fixed-interval starts of a workflow).",
		schedulesLs(stdout, stderr), schedulesGet(stdout, stderr), schedulesCreate(stdout, stderr),
		schedulesByID("pause", "schedule.pause", "Pause a schedule: no firing until resumed.", stdout, stderr),
		schedulesByID("resume", "schedule.resume", "Resume a schedule from its next spec time.", stdout, stderr),
		schedulesByID("delete", "schedule.delete", "Delete a schedule (its executions are kept).", stdout, stderr),
		schedulesByID("trigger", "schedule.trigger", "Start one execution of a schedule now.", stdout, stderr))
}

func schedulesFlags(name string, stderr io.Writer) (*flag.FlagSet, *target) {
	fs := newFlags("weft schedules "+name, stderr)
	var t target
	t.register(fs, false, true)
	t.needs(fs, "schedules:read to list, schedules:write to change")
	return fs, &t
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}

type scheduleRow struct {
	ID   string `json:"schedule_id"`
	Spec struct {
		Cron  string `json:"cron"`
		TZ    string `json:"tz"`
		Every string `json:"every"`
	} `json:"spec"`
	Workflow        string     `json:"workflow"`
	Paused          bool       `json:"paused"`
	NextRunAt       *time.Time `json:"next_run_at"`
	LastExecutionID string     `json:"last_execution_id"`
	Overlap         string     `json:"overlap"`
	CatchUp         string     `json:"catch_up"`
	Firings         int64      `json:"firings"`
	LastError       string     `json:"last_error"`
}

func (r scheduleRow) spec() string {
	if r.Spec.Every != "" {
		return "every " + r.Spec.Every
	}
	if r.Spec.TZ != "" {
		return r.Spec.Cron + " (" + r.Spec.TZ + ")"
	}
	return r.Spec.Cron
}

func (r scheduleRow) next() string {
	switch {
	case r.Paused:
		return "paused"
	case r.NextRunAt == nil:
		return "-"
	}
	return r.NextRunAt.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func schedulesLs(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := schedulesFlags("ls", stderr)
	return newLeaf(fs, leaf{
		name: "ls", usage: "weft schedules ls [--server URL] [--token T] [--json]", args: exactly(0),
		help: "List the workspace's schedules.",
		run: func(ctx context.Context, _ []string) error {
			var raw json.RawMessage
			if err := t.call(ctx, "schedule.list", nil, &raw); err != nil {
				return err
			}
			if t.json {
				return printJSON(stdout, raw)
			}
			var list struct {
				Schedules []scheduleRow `json:"schedules"`
				Active    int           `json:"active"`
				Paused    int           `json:"paused"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tWORKFLOW\tSPEC\tNEXT RUN\tOVERLAP\tCATCH UP\tFIRINGS\tLAST EXECUTION")
			for _, r := range list.Schedules {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Workflow, r.spec(), r.next(), r.Overlap, r.CatchUp, r.Firings, orDash(r.LastExecutionID))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%d active, %d paused\n", list.Active, list.Paused)
			return nil
		},
	})
}

func schedulesGet(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := schedulesFlags("get", stderr)
	return newLeaf(fs, leaf{
		name: "get", usage: "weft schedules get SCHEDULE_ID", args: exactly(1),
		help: "Show one schedule (as JSON).",
		run: func(ctx context.Context, args []string) error {
			var raw json.RawMessage
			if err := t.call(ctx, "schedule.get", map[string]string{"schedule_id": args[0]}, &raw); err != nil {
				return err
			}
			return printJSON(stdout, raw)
		},
	})
}

func schedulesCreate(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := schedulesFlags("create", stderr)
	var cronExpr, tz, every, params, overlap, catchUp string
	fs.StringVar(&cronExpr, "cron", "", `cron expression, 5 fields (e.g. "0 9 * * 1-5")`)
	fs.StringVar(&tz, "tz", "", "IANA time zone of --cron (default UTC)")
	fs.StringVar(&every, "every", "", `fixed interval, a Go duration (e.g. "30s", "1h")`)
	fs.StringVar(&params, "params", "{}", "workflow parameters, a JSON object")
	fs.StringVar(&overlap, "overlap", "", "when the previous run is still going: skip (default), allow, cancel_previous")
	fs.StringVar(&catchUp, "catch-up", "", "firings missed while the server was down: skip (default), run_once")
	return newLeaf(fs, leaf{
		name: "create", args: exactly(1),
		usage: "weft schedules create WORKFLOW (--cron EXPR [--tz ZONE] | --every DURATION) [--params JSON] [--overlap O] [--catch-up C]",
		help:  "Create a schedule; prints its id and next run.",
		run: func(ctx context.Context, args []string) error {
			if !json.Valid([]byte(params)) || !strings.HasPrefix(strings.TrimSpace(params), "{") {
				return usageError{"--params must be a JSON object"}
			}
			req := map[string]any{
				"workflow": args[0], "parameters": json.RawMessage(params),
				"cron": cronExpr, "tz": tz, "every": every, "overlap": overlap, "catch_up": catchUp,
			}
			var raw json.RawMessage
			if err := t.call(ctx, "schedule.create", req, &raw); err != nil {
				return err
			}
			if t.json {
				return printJSON(stdout, raw)
			}
			var res struct {
				ScheduleID string    `json:"schedule_id"`
				NextRunAt  time.Time `json:"next_run_at"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\tnext run %s\n", res.ScheduleID, res.NextRunAt.UTC().Format(time.RFC3339))
			return nil
		},
	})
}

// schedulesByID is a subcommand that sends one schedule id to service.
func schedulesByID(name, service, help string, stdout, stderr io.Writer) *ffcli.Command {
	fs, t := schedulesFlags(name, stderr)
	return newLeaf(fs, leaf{
		name: name, usage: "weft schedules " + name + " SCHEDULE_ID", args: exactly(1), help: help,
		run: func(ctx context.Context, args []string) error {
			var raw json.RawMessage
			if err := t.call(ctx, service, map[string]string{"schedule_id": args[0]}, &raw); err != nil {
				return err
			}
			if t.json {
				return printJSON(stdout, raw)
			}
			var res struct {
				ScheduleID  string `json:"schedule_id"`
				Paused      bool   `json:"paused"`
				Deleted     bool   `json:"deleted"`
				ExecutionID string `json:"execution_id"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			switch {
			case res.ExecutionID != "":
				fmt.Fprintf(stdout, "%s\tstarted %s\n", args[0], res.ExecutionID)
			case res.Deleted:
				fmt.Fprintf(stdout, "%s\tdeleted\n", args[0])
			case res.Paused:
				fmt.Fprintf(stdout, "%s\tpaused\n", args[0])
			default:
				fmt.Fprintf(stdout, "%s\tactive\n", args[0])
			}
			return nil
		},
	})
}
