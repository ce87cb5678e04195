package console_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/workflows"
)

// docDescription holds every Markdown form the console renders, and text
// that must stay text: a script tag and a javascript: link.
const docDescription = "Counts **words** in `text`.\n\n" +
	"- first item\n- second, see [the docs](https://example.com/docs)\n\n" +
	"Unsafe <script>window.pwned=1</script> and [bad](javascript:window.pwned=2)."

// TestConsoleLoginAndWorkflows: before a token is accepted only the login
// form shows (nothing of the workspace is loaded); a wrong token says so;
// then the workflows page renders descriptions as safe Markdown and shows
// each workflow's statistics from workflow.stats.
func TestConsoleLoginAndWorkflows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-login", "gus", func(r *workflows.Registry) {
		workflows.Register(r, "doc", func(ctx workflows.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil },
			workflows.Description(docDescription))
	})
	// Executions for the statistics: two echoes complete, one flaky fails.
	who := weft.Identity{Name: "gus", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}
	for _, start := range []struct{ wf, params string }{{"echo", `{}`}, {"echo", `{"a":1}`}, {"flaky", `{"fail_times":11}`}} {
		res, err := srv.Service().Start(context.Background(), who, actors.StartRequest{Name: start.wf, Parameters: json.RawMessage(start.params)})
		if err != nil {
			t.Fatal(err)
		}
		waitEnded(t, srv, who, res.ExecutionID)
	}

	ctx := headless(t, 60*time.Second)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	hidden := func(id string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("`+id+`").hidden`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+srv.Addr()+"/console/#/workflows"),
		chromedp.WaitVisible(css("#login-form")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !hidden("app") || !hidden("nav") || !hidden("logout") {
		t.Error("the app, its navigation or Log out show before login")
	}
	if text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`)); strings.Contains(text, "echo") || strings.Contains(text, "Executions") {
		t.Errorf("before login the page shows %q", text)
	}
	screenshot(t, ctx, "login")

	err = chromedp.Do(ctx,
		chromedp.SetValue(css("#token"), "tok-wrong"),
		chromedp.Click(css("#login-button")),
		waitText("#login-error", "wrong token"),
	)
	if err != nil {
		t.Fatalf("a wrong token: %v", err)
	}
	if !hidden("app") || !hidden("nav") {
		t.Error("the app shows after a wrong token")
	}

	// The right token: the route asked for before login (#/workflows) shows.
	err = chromedp.Do(ctx,
		chromedp.SetValue(css("#token"), "tok-login"),
		chromedp.Click(css("#login-button")),
		chromedp.WaitVisible(css("#workflow-table")),
		waitText("#who", "gus @ acme"),
		chromedp.WaitReady(css(`tr[data-workflow="doc"] .description strong`)),
	)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	if hidden("login") == false {
		t.Error("the login form still shows after login")
	}

	// Markdown, built as elements; unsafe text stays text.
	doc := `document.querySelector('tr[data-workflow="doc"] .description')`
	checks := map[string]string{
		doc + `.querySelector("strong").textContent`:                                            "words",
		doc + `.querySelector("code").textContent`:                                              "text",
		doc + `.querySelectorAll("ul > li").length.toString()`:                                  "2",
		doc + `.querySelector("a").getAttribute("href")`:                                        "https://example.com/docs",
		doc + `.querySelector("a").textContent`:                                                 "the docs",
		doc + `.querySelectorAll("a").length.toString()`:                                        "1",
		doc + `.querySelectorAll("script").length.toString()`:                                   "0",
		`String(window.pwned)`:                                                                  "undefined",
		`document.querySelector('tr[data-workflow="countdown"] .description code').textContent`: "steps",
	}
	for expr, want := range checks {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", expr, got, err, want)
		}
	}
	text, err := chromedp.Run(ctx, chromedp.Text(css(`tr[data-workflow="doc"] .description`)))
	if err != nil || !strings.Contains(text, "<script>window.pwned=1</script>") || !strings.Contains(text, "bad") {
		t.Errorf("the unsafe parts are not shown as text: %q (%v)", text, err)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(css(`#workflow-rows`))); strings.Contains(text, "`") || strings.Contains(text, "**") {
		t.Errorf("descriptions show Markdown syntax: %q", text)
	}

	// Statistics from workflow.stats: runs, success rate, health; "—"
	// where a workflow that never ran has no rate or duration.
	cells := func(wf string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('tr[data-workflow="`+wf+`"] [data-stat]')].map((c) => c.textContent).join("|")`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	err = chromedp.Do(ctx,
		waitText(`tr[data-workflow="echo"] [data-stat="runs"]`, "2"),
		waitText(`tr[data-workflow="echo"] [data-stat="success_rate"]`, "100.0%"),
		waitText(`tr[data-workflow="echo"] [data-stat="health"]`, "ok"),
		waitText(`tr[data-workflow="flaky"] [data-stat="runs"]`, "1"),
		waitText(`tr[data-workflow="flaky"] [data-stat="success_rate"]`, "0.0%"),
		waitText(`tr[data-workflow="flaky"] [data-stat="health"]`, "error"),
	)
	if err != nil {
		t.Fatalf("statistics: %v (echo %q, flaky %q)", err, cells("echo"), cells("flaky"))
	}
	if got := cells("doc"); !strings.HasPrefix(got, "0|—|—|—|") {
		t.Errorf("a workflow that never ran shows %q, want 0 runs and — for rates and durations", got)
	}
	for _, c := range strings.Split(cells("echo"), "|")[2:4] {
		if !strings.HasSuffix(c, "ms") && !strings.HasSuffix(c, " s") {
			t.Errorf("echo's average or p95 duration %q is not a duration", c)
		}
	}
	screenshot(t, ctx, "workflows")
}

// waitEnded polls the service until the execution has ended.
func waitEnded(t *testing.T, srv interface {
	Service() *actors.Service
}, who weft.Identity, id string) actors.Snapshot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap, err := srv.Service().GetExecution(context.Background(), who, id)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Status.Terminal() {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s", id, snap.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
