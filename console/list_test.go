package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
)

// TestConsoleExecutionList drives the executions list over 60 executions:
// pages of 50, the status, workflow and time filters, search by execution
// id and by idempotency key, the end and duration columns, "/" to search;
// and live updates that keep rows where they are: a new execution is
// announced ("1 new execution — show") while the first row stays the same
// element, and a status changes in its cell, in place.
func TestConsoleExecutionList(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-list", "hana")
	who := weft.Identity{Name: "hana", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}
	start := func(wf, params, key string) string {
		t.Helper()
		res, err := srv.Service().Start(context.Background(), who, actors.StartRequest{Name: wf, Parameters: json.RawMessage(params), IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return res.ExecutionID
	}
	// Batch A: 55 echoes with keys; then, from the next whole second on,
	// batch B: 3 countdowns and an approval that waits for its signal.
	var lastA actors.Snapshot
	for i := range 55 {
		lastA = waitEnded(t, srv, who, start("echo", fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf("key-%d", i)))
	}
	boundary := lastA.CreatedAt.Truncate(time.Second).Add(time.Second)
	for time.Now().Before(boundary) {
		time.Sleep(10 * time.Millisecond) // the time filter's inputs hold whole seconds
	}
	for range 3 {
		waitEnded(t, srv, who, start("countdown", `{"steps":1}`, ""))
	}
	approval := start("approval", `{}`, "")
	key7 := findByKey(t, srv, who, "key-7")   // on page 2
	key50 := findByKey(t, srv, who, "key-50") // on page 1

	ctx := headless(t, 90*time.Second)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	rowCount := func() int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#exec-rows tr").length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitRows := func(n int) chromedp.Action[chromedp.Void] {
		return waitEval(fmt.Sprintf(`document.querySelectorAll("#exec-rows tr").length === %d`, n))
	}
	change := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`document.getElementById("` + id + `").dispatchEvent(new Event("change"))`)
	}

	// Page 1 is 50, page 2 the other 9.
	err := chromedp.Do(ctx,
		login(srv, "tok-list"),
		chromedp.WaitVisible(css("#exec-table")),
		waitRows(50),
		waitText("#page-info", "1–50 · page 1"),
		chromedp.Click(css("#page-next")),
		waitRows(9),
		waitText("#page-info", "51–59 (last page) · page 2"),
		waitEval(`document.getElementById("page-next").disabled`),
		chromedp.Click(css("#page-prev")),
		waitRows(50),
	)
	if err != nil {
		t.Fatalf("pages: %v", err)
	}
	screenshot(t, ctx, "executions")

	// End and duration: an ended row has both, the waiting approval only
	// a running duration.
	cells := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelector('#exec-rows tr[data-id="`+id+`"]').cells].map((c) => c.textContent).join("|")`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if c := strings.Split(cells(approval), "|"); len(c) != 6 || c[2] != "waiting" || c[4] != "" || c[5] == "" {
		t.Errorf("approval row %q: want waiting, no end, a duration", c)
	}
	if c := strings.Split(cells(key50), "|"); len(c) != 6 || c[2] != "completed" || c[4] == "" || !strings.HasSuffix(c[5], "ms") && !strings.HasSuffix(c[5], " s") {
		t.Errorf("echo row %q: want completed, an end, a duration", c)
	}

	// Filters: status, workflow, then the time range, then cleared.
	err = chromedp.Do(ctx,
		chromedp.SetValue(css("#filter-status"), "waiting"), change("filter-status"),
		waitRows(1), waitText("#exec-rows", approval),
		chromedp.SetValue(css("#filter-status"), ""), chromedp.SetValue(css("#filter-workflow"), "countdown"), change("filter-workflow"),
		waitRows(3), waitNoText("#exec-rows", "echo"),
		chromedp.SetValue(css("#filter-workflow"), ""),
		chromedp.SetValue(css("#filter-from"), boundary.Local().Format("2006-01-02T15:04:05")), change("filter-from"),
		waitRows(4), waitNoText("#exec-rows", "echo"),
		chromedp.SetValue(css("#filter-from"), ""),
		chromedp.SetValue(css("#filter-to"), boundary.Local().Format("2006-01-02T15:04:05")), change("filter-to"),
		waitText("#page-info", "1–50 · page 1"), waitNoText("#exec-rows", "countdown"),
		chromedp.Click(css("#page-next")), waitRows(5), waitText("#page-info", "(last page)"),
		chromedp.Click(css("#filter-clear")),
		waitRows(50),
	)
	if err != nil {
		t.Fatalf("filters: %v", err)
	}

	// The filters are in the URL: a change writes them there, and a URL
	// sets them: by a link, by a full reload (before the workflow list
	// has loaded), with a time as a UTC instant or a preset range.
	value := func(id, want string) string {
		return `document.getElementById("` + id + `").value === "` + want + `"`
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(css("#filter-status"), "waiting"), change("filter-status"),
		waitRows(1), waitEval(`location.hash === "#/executions?status=waiting"`),
		chromedp.Evaluate[chromedp.Void](`location.hash = "#/executions?workflow=countdown"`),
		waitRows(3), waitEval(value("filter-workflow", "countdown")+" && "+value("filter-status", "")),
		chromedp.Evaluate[chromedp.Void](`location.hash = "#/executions?status=waiting&workflow=approval"; location.reload()`),
		chromedp.WaitVisible(css("#exec-table")),
		waitRows(1), waitText("#exec-rows", approval),
		waitEval(value("filter-workflow", "approval")+" && "+value("filter-status", "waiting")),
		chromedp.Evaluate[chromedp.Void](`location.hash = "#/executions?from=`+boundary.UTC().Format(time.RFC3339)+`"`),
		waitRows(4), waitNoText("#exec-rows", "echo"), waitEval(value("filter-workflow", "")),
		chromedp.Evaluate[chromedp.Void](`location.hash = "#/executions?range=1h"`),
		waitRows(50), waitEval(value("filter-range", "1h")+` && document.getElementById("filter-from").value !== ""`),
		chromedp.Click(css("#filter-clear")),
		waitRows(50), waitEval(`location.hash === "#/executions"`),
	)
	if err != nil {
		hash, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`))
		t.Fatalf("filters in the URL: %v (at %s)", err, hash)
	}
	// The route's parameters: "+" and escapes decoded, a malformed escape
	// ignored, and written back the same.
	parsed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import("/console/util.js").then((m) => {
		const p = m.routeParams("status=failed&q=a+b%20c%26d&flag&bad=%E0%A4%A");
		return JSON.stringify([[...p], m.routeQuery(p)]);
	})`, chromedp.EvalAwaitPromise))
	if want := `[[["status","failed"],["q","a b c&d"],["flag",""]],"status=failed&q=a%20b%20c%26d&flag="]`; err != nil || parsed != want {
		t.Errorf("routeParams and routeQuery: %s, %v; want %s", parsed, err, want)
	}

	// Search: "/" focuses it; an execution id; an idempotency key; nothing.
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`),
		chromedp.KeyEvent("/"),
		waitEval(`document.activeElement.id === "filter-search"`),
		chromedp.SetValue(css("#filter-search"), approval), chromedp.Click(css("#filter-apply")),
		waitRows(1), waitText("#page-info", "found by id"), waitText("#exec-rows", approval),
		chromedp.SetValue(css("#filter-search"), "key-7"), chromedp.Click(css("#filter-apply")),
		waitRows(1), waitText("#exec-rows", key7),
		chromedp.SetValue(css("#filter-search"), "exec_nope"), chromedp.Click(css("#filter-apply")),
		waitRows(0), waitText("#exec-empty", `No execution with id or idempotency key "exec_nope"`),
		chromedp.Click(css("#filter-clear")),
		waitRows(50),
	)
	if err != nil {
		t.Fatalf("search: %v", err)
	}

	// Live: mark the first row and the approval's row (elements, not
	// text), then a new execution starts and the approval is signalled.
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const r = document.querySelector("#exec-rows tr"); r.dataset.markFirst = "1"; document.querySelector('#exec-rows tr[data-id="`+approval+`"]').dataset.markApproval = "1"; return r.dataset.id; })()`))
	if err != nil {
		t.Fatal(err)
	}
	fresh := waitEnded(t, srv, who, start("echo", `{"live":true}`, "")).ExecutionID
	if _, err := srv.Service().Signal(context.Background(), who, actors.SignalRequest{ExecutionID: approval, Name: "approve", Payload: json.RawMessage(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		waitText("#new-rows", "1 new execution — show"),
		waitEval(`document.querySelector('#exec-rows tr[data-id="`+approval+`"] .cell-status').textContent === "completed"`),
	)
	if err != nil {
		t.Fatalf("live updates: %v", err)
	}
	if n := rowCount(); n != 50 {
		t.Errorf("%d rows after a new execution, want the same 50", n)
	}
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#exec-rows tr").dataset.markFirst === "1" && document.querySelector("#exec-rows tr").dataset.id === "`+first+`" && document.querySelector('#exec-rows tr[data-id="`+approval+`"]').dataset.markApproval === "1"`))
	if err != nil || !same {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll("#exec-rows tr")].slice(0, 3).map((r) => [r.dataset.id, r.dataset.markFirst, r.dataset.markApproval]))`))
		t.Errorf("rows were replaced or moved by a live update (%v): first rows %s, first was %s", err, got, first)
	}
	screenshot(t, ctx, "executions-live")
	err = chromedp.Do(ctx,
		chromedp.Click(css("#new-rows")),
		waitEval(`document.querySelector("#exec-rows tr").dataset.id === "`+fresh+`"`),
		waitEval(`document.getElementById("new-rows").hidden`),
	)
	if err != nil {
		t.Fatalf("show the new execution: %v", err)
	}
}

// findByKey is the execution started with an idempotency key.
func findByKey(t *testing.T, srv interface{ Service() *actors.Service }, who weft.Identity, key string) string {
	t.Helper()
	res, err := srv.Service().ListExecutions(context.Background(), who, actors.ListRequest{IdempotencyKey: key})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("list by key %s: %+v, %v", key, res.Items, err)
	}
	return res.Items[0].ExecutionID
}

// waitEval polls until the JavaScript expression is true.
func waitEval(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err != nil {
				return chromedp.Void{}, err
			}
			if ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
