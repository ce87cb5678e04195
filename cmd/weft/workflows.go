package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/client"
)

// `weft workflows ls`: the workflows a server runs (workflow.list over the
// socket) with the parameters each takes, read from its parameters_schema.

// workflowParam is one parameter of a workflow, from its schema.
type workflowParam struct {
	Name        string   `json:"name"`
	Type        string   `json:"type,omitempty"`
	Required    bool     `json:"required"`
	Description string   `json:"description,omitempty"`
	Bounds      string   `json:"bounds,omitempty"`
	Enum        []any    `json:"enum,omitempty"`
	Default     any      `json:"default,omitempty"`
	Minimum     *float64 `json:"minimum,omitempty"`
	Maximum     *float64 `json:"maximum,omitempty"`
}

// workflowListing is one workflow as `weft workflows ls` shows it.
type workflowListing struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Parameters       []workflowParam `json:"parameters"`
	ParametersSchema json.RawMessage `json:"parameters_schema,omitempty"`
}

// schemaProp is the part of a property's JSON schema the listing shows.
type schemaProp struct {
	Type             any      `json:"type"`
	Description      string   `json:"description"`
	Enum             []any    `json:"enum"`
	Default          any      `json:"default"`
	Minimum          *float64 `json:"minimum"`
	Maximum          *float64 `json:"maximum"`
	ExclusiveMinimum *float64 `json:"exclusiveMinimum"`
	ExclusiveMaximum *float64 `json:"exclusiveMaximum"`
	MinLength        *int     `json:"minLength"`
	MaxLength        *int     `json:"maxLength"`
	MinItems         *int     `json:"minItems"`
	MaxItems         *int     `json:"maxItems"`
	Items            *struct {
		Type any `json:"type"`
	} `json:"items"`
}

// paramsOf reads the parameters of a workflow from its schema: its
// properties in name order (required ones first).
func paramsOf(schema json.RawMessage) []workflowParam {
	var doc struct {
		Properties map[string]schemaProp `json:"properties"`
		Required   []string              `json:"required"`
	}
	if len(schema) == 0 || json.Unmarshal(schema, &doc) != nil {
		return []workflowParam{}
	}
	out := make([]workflowParam, 0, len(doc.Properties))
	for name, p := range doc.Properties {
		wp := workflowParam{
			Name: name, Type: typeName(p.Type), Required: slices.Contains(doc.Required, name),
			Description: firstLine(p.Description), Enum: p.Enum, Default: p.Default,
			Minimum: p.Minimum, Maximum: p.Maximum, Bounds: boundsOf(p),
		}
		if wp.Type == "array" && p.Items != nil {
			if it := typeName(p.Items.Type); it != "" {
				wp.Type = "[]" + it
			}
		}
		out = append(out, wp)
	}
	slices.SortFunc(out, func(a, b workflowParam) int {
		if a.Required != b.Required {
			if a.Required {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// typeName is a schema type: a string, or a list such as ["string","null"].
func typeName(t any) string {
	switch t := t.(type) {
	case string:
		return t
	case []any:
		var names []string
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				names = append(names, s)
			}
		}
		return strings.Join(names, "|")
	}
	return ""
}

// boundsOf says the bounds of a property in words: "0..100", ">= 1",
// "len 1..64", "one of a, b".
func boundsOf(p schemaProp) string {
	var parts []string
	num := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'f', -1, 64)
	}
	switch {
	case p.Minimum != nil && p.Maximum != nil:
		parts = append(parts, num(p.Minimum)+".."+num(p.Maximum))
	case p.Minimum != nil:
		parts = append(parts, ">= "+num(p.Minimum))
	case p.Maximum != nil:
		parts = append(parts, "<= "+num(p.Maximum))
	}
	if p.ExclusiveMinimum != nil {
		parts = append(parts, "> "+num(p.ExclusiveMinimum))
	}
	if p.ExclusiveMaximum != nil {
		parts = append(parts, "< "+num(p.ExclusiveMaximum))
	}
	lenBounds := func(label string, lo, hi *int) {
		switch {
		case lo != nil && hi != nil:
			parts = append(parts, fmt.Sprintf("%s %d..%d", label, *lo, *hi))
		case lo != nil:
			parts = append(parts, fmt.Sprintf("%s >= %d", label, *lo))
		case hi != nil:
			parts = append(parts, fmt.Sprintf("%s <= %d", label, *hi))
		}
	}
	lenBounds("length", p.MinLength, p.MaxLength)
	lenBounds("items", p.MinItems, p.MaxItems)
	if len(p.Enum) > 0 {
		vals := make([]string, len(p.Enum))
		for i, v := range p.Enum {
			vals[i] = fmt.Sprint(v)
		}
		parts = append(parts, "one of "+strings.Join(vals, ", "))
	}
	return strings.Join(parts, ", ")
}

// firstLine is the first line of a description.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func workflowsCommand(stdout, stderr io.Writer) *ffcli.Command {
	return newGroup("workflows", "List the workflows a server runs, with their parameters; how one has been doing.",
		workflowsLs(stdout, stderr), workflowsStats(stdout, stderr))
}

func workflowsLs(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft workflows ls", stderr)
	var t target
	t.register(fs, false, true)
	return newLeaf(fs, leaf{
		name: "ls", usage: "weft workflows ls [--json]", args: exactly(0),
		help: "List workflows: name, description and parameters (type, required, bounds).",
		run: func(ctx context.Context, _ []string) error {
			var resp struct {
				Workflows []client.WorkflowInfo `json:"workflows"`
			}
			if err := t.call(ctx, "workflow.list", map[string]any{}, &resp); err != nil {
				return err
			}
			list := make([]workflowListing, len(resp.Workflows))
			for i, w := range resp.Workflows {
				list[i] = workflowListing{Name: w.Name, Description: firstLine(w.Description), Parameters: paramsOf(w.ParametersSchema), ParametersSchema: w.ParametersSchema}
			}
			slices.SortFunc(list, func(a, b workflowListing) int { return strings.Compare(a.Name, b.Name) })
			if t.json {
				return writeJSON(stdout, list)
			}
			printWorkflows(stdout, list)
			return nil
		},
	})
}

// printWorkflows writes one line per workflow and one indented line per
// parameter (aligned within the workflow: a line without tabs ends
// tabwriter's columns).
func printWorkflows(w io.Writer, list []workflowListing) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no workflows registered")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, wf := range list {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		desc := wf.Description
		if desc == "" {
			desc = "-"
		}
		fmt.Fprintf(tw, "%s: %s\n", wf.Name, desc)
		if len(wf.Parameters) == 0 {
			fmt.Fprintln(tw, "  (no parameters)")
		}
		for _, p := range wf.Parameters {
			req := "optional"
			if p.Required {
				req = "required"
			}
			typ := p.Type
			if typ == "" {
				typ = "any"
			}
			line := strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{p.Bounds, p.Description}, func(s string) bool { return s == "" }), "; "))
			if line == "" {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, typ, req)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Name, typ, req, line)
		}
	}
	tw.Flush()
}

func workflowsStats(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft workflows stats", stderr)
	var t target
	t.register(fs, false, true)
	t.needs(fs, "workflows:read")
	period := fs.String("period", "day", "the window that ends now: hour, day or week")
	return newLeaf(fs, leaf{
		name: "stats", usage: "weft workflows stats NAME [--period hour|day|week] [--json]", args: exactly(1),
		help: "How a workflow's executions that ended in the last hour, day or week went: runs, success rate, durations, health.",
		run: func(ctx context.Context, args []string) error {
			if !slices.Contains([]string{"hour", "day", "week"}, *period) {
				return usageError{fmt.Sprintf("--period %q: want hour, day or week", *period)}
			}
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			st, err := c.WorkflowStats(ctx, args[0], *period)
			if err != nil {
				return err
			}
			if t.json {
				return writeJSON(stdout, st)
			}
			printStats(stdout, st)
			return nil
		},
	})
}

// printStats writes a workflow's stats, one figure a line.
func printStats(w io.Writer, st client.WorkflowStats) {
	ms := func(v float64) string {
		return (time.Duration(v * float64(time.Millisecond))).Round(time.Millisecond).String()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "workflow\t%s\n", st.Workflow)
	fmt.Fprintf(tw, "period\t%s (%s to %s)\n", st.Period, st.From.Local().Format("2006-01-02 15:04"), st.To.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(tw, "runs\t%d ended: %d completed, %d failed, %d cancelled\n", st.Runs, st.Completed, st.Failed, st.Cancelled)
	fmt.Fprintf(tw, "success rate\t%.1f%%\n", 100*st.SuccessRate)
	if st.Runs > 0 {
		fmt.Fprintf(tw, "duration\tavg %s, p95 %s\n", ms(st.AvgDurationMS), ms(st.P95DurationMS))
	} else {
		fmt.Fprintf(tw, "duration\t-\n")
	}
	fmt.Fprintf(tw, "errors per day\t%s\n", strconv.FormatFloat(st.ErrorsPerDay, 'f', -1, 64))
	fmt.Fprintf(tw, "health\t%s\n", st.Health)
	_ = tw.Flush()
}
