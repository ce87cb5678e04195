package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/persistence"
)

// `weft audit`: the audit trail of the token's workspace over the socket
// service audit.list (PROTOCOL.md section 8), oldest first, a page at a
// time (--all follows the pages).

// auditFlags are the filters and paging of `weft audit`.
type auditFlags struct {
	action, identity, since, until, after string
	limit                                 int
	all                                   bool
}

func (f *auditFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.action, "action", "", "only this action (e.g. execution.cancel, artifact.upload, rate_limited)")
	fs.StringVar(&f.identity, "identity", "", "only this identity")
	fs.StringVar(&f.since, "since", "", "only records since (a duration back from now like 1h, or an RFC 3339 time)")
	fs.StringVar(&f.until, "until", "", "only records before (a duration back from now like 10m, or an RFC 3339 time)")
	fs.StringVar(&f.after, "after", "", "start after this cursor (the next cursor a previous page printed)")
	fs.IntVar(&f.limit, "limit", 100, "records per page (1-1000)")
	fs.BoolVar(&f.all, "all", false, "follow the pages to the end")
}

// request is the audit.list request of the flags (zero times left out).
func (f *auditFlags) request() (map[string]any, error) {
	if f.limit < 1 || f.limit > 1000 {
		return nil, usageError{fmt.Sprintf("--limit %d: want 1 to 1000", f.limit)}
	}
	req := map[string]any{"limit": f.limit}
	for name, v := range map[string]string{"action": f.action, "identity": f.identity, "after": f.after} {
		if v != "" {
			req[name] = v
		}
	}
	for name, v := range map[string]string{"since": f.since, "until": f.until} {
		t, err := parseTimeFlag(name, v)
		if err != nil {
			return nil, err
		}
		if !t.IsZero() {
			req[name] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	return req, nil
}

// parseTimeFlag reads a time flag: a duration back from now ("1h") or an
// RFC 3339 time. Zero means no bound.
func parseTimeFlag(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("--%s %q: want a duration (1h) or an RFC 3339 time", name, s)}
}

func auditCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft audit", stderr)
	var t target
	t.register(fs, false, true)
	var f auditFlags
	f.register(fs)
	return newLeaf(fs, leaf{
		name: "audit", args: exactly(0),
		usage: "weft audit [--action A] [--identity I] [--since 1h] [--until T] [--after CURSOR] [--limit N] [--all] [--json]",
		help:  "List the audit trail of the token's workspace, oldest first (scope audit:read).",
		run: func(ctx context.Context, _ []string) error {
			req, err := f.request()
			if err != nil {
				return err
			}
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			pace := pacerFor(c)
			var out persistence.AuditPage
			for {
				var page persistence.AuditPage
				if err := pace.wait(ctx); err != nil {
					return err
				}
				if err := c.Call(ctx, "audit.list", req, &page); err != nil {
					return err
				}
				out.Items = append(out.Items, page.Items...)
				out.NextCursor = page.NextCursor
				if !f.all || page.NextCursor == "" {
					break
				}
				req["after"] = page.NextCursor
			}
			if t.json {
				out.Items = nonNil(out.Items)
				return writeJSON(stdout, out)
			}
			return printAudit(stdout, out)
		},
	})
}

// printAudit prints a page as a table, then its next cursor.
func printAudit(w io.Writer, page persistence.AuditPage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tIDENTITY\tTRANSPORT\tACTION\tTARGET\tOUTCOME\tREMOTE_ADDR")
	for _, r := range page.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339Nano), r.Identity, r.Transport,
			r.Action, auditCell(r.Target), r.Outcome, auditCell(r.RemoteAddr))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		_, err := fmt.Fprintf(w, "next cursor: %s (weft audit --after %s)\n", page.NextCursor, page.NextCursor)
		return err
	}
	return nil
}

// auditCell is s, or "-" for an empty cell.
func auditCell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// userAgent is the User-Agent of the command line's socket upgrades and
// HTTP requests: the server audits them with transport "cli".
func userAgent() string { return actors.CLIUserAgent + version }
