package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// withParent registers "parent", which runs echo as a child workflow.
func withParent(r *workflows.Registry) {
	workflows.Register(r, "parent", func(ctx workflows.Context, in json.RawMessage) (json.RawMessage, error) {
		return workflows.Child[json.RawMessage](ctx, "echo", map[string]any{"from": "parent"})
	}, workflows.Description("Runs `echo` as a child workflow."))
}

// TestConsoleExecutionDetail: an execution's page loads from its deep
// link (#/executions/<id>) straight after login; it shows parameters,
// metadata and result as formatted JSON, the timeline grouped by step with
// times, durations and attempts, and each LLM step's streamed text (the
// llm_delta texts joined, as the server stored them); back and forward
// move between the list and the page; a child workflow is listed with its
// steps nested; Rerun from step 2 opens the new execution, linked to the
// original; Replay re-sends every stored event; Export downloads the
// execution as weft export writes it.
func TestConsoleExecutionDetail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-detail", "ines", withParent)
	who := weft.Identity{Name: "ines", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}
	res, err := srv.Service().Start(context.Background(), who, actors.StartRequest{Name: "search-candidates",
		Parameters: json.RawMessage(`{"user_query":"senior go engineer","organization_id":"org_1"}`),
		Metadata:   json.RawMessage(`{"ticket":"T-1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := res.ExecutionID
	snap := waitEnded(t, srv, who, id)
	llm := llmTexts(t, srv, "tok-detail", id)
	if len(llm) == 0 {
		t.Fatal("search-candidates streamed no llm_delta: the test would check nothing")
	}

	ctx := headless(t, 90*time.Second)
	dl := watchDownloads(t, ctx)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(css(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	// Log in, then load the execution's own URL as a bookmark would.
	err = chromedp.Do(ctx,
		dl.allow(),
		login(srv, "tok-detail"),
		chromedp.Navigate("http://"+srv.Addr()+"/console/#/executions/"+id),
		chromedp.Reload(),
		chromedp.WaitVisible(css("#view-execution")),
		waitText("#detail-id", id),
		waitText("#detail-status", "completed"),
		waitText("#timeline", "execution_completed"),
		waitText("#detail-facts", "search-candidates"),
		waitEval(`document.querySelectorAll("#llm-output [data-llm-step]").length === `+fmt.Sprint(len(llm))),
	)
	if err != nil {
		t.Fatalf("deep link: %v", err)
	}
	if v := text("#view-executions"); v != "" && !isHidden(t, ctx, "view-executions") {
		t.Error("the list shows beside the execution's page")
	}
	if p := text("#detail-parameters"); !strings.Contains(p, "{\n  \"user_query\": \"senior go engineer\",\n  \"organization_id\": \"org_1\"\n}") {
		t.Errorf("parameters not shown as indented JSON: %q", p)
	}
	if m := text("#detail-metadata"); !strings.Contains(m, `"ticket": "T-1"`) {
		t.Errorf("metadata: %q", m)
	}
	var result any
	if err := json.Unmarshal([]byte(text("#detail-result")), &result); err != nil || !sameJSON(result, snap.Result) {
		t.Errorf("result %q is not the execution's result %s (%v)", text("#detail-result"), snap.Result, err)
	}
	if w := text("#detail-waiting"); !strings.Contains(w, "completed at") {
		t.Errorf("what it waits for, once ended: %q", w)
	}
	for step, want := range llm {
		got := text(`#llm-output [data-llm-step="` + step + `"] pre`)
		if got != want {
			t.Errorf("LLM text of step %s = %q, want the joined llm_delta %q", step, got, want)
		}
	}
	// Grouped by step, with a start, a duration and the attempts.
	for _, step := range snap.Steps {
		if strings.Contains(step.ID, ".") {
			continue
		}
		head := text(`#timeline li.step[data-step="` + step.ID + `"] .step-head`)
		if !strings.Contains(head, "started") || !strings.Contains(head, "attempt") || !strings.Contains(head, step.Kind) {
			t.Errorf("step %s head %q lacks started, attempts or kind %s", step.ID, head, step.Kind)
		}
	}
	if first := text("#timeline > li:first-child"); !strings.Contains(first, "#1") || !strings.Contains(first, "execution_started") {
		t.Errorf("the timeline starts with %q, want event #1 execution_started", first)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline li.step .step-duration").length`)); n < 2 {
		t.Errorf("%d steps show a duration", n)
	}
	screenshot(t, ctx, "execution-detail")

	// Back and forward: the list, then the page again.
	err = chromedp.Do(ctx,
		chromedp.Click(css(".crumbs a")),
		chromedp.WaitVisible(css("#exec-table")),
		waitText("#exec-rows", id),
		chromedp.Evaluate[chromedp.Void](`history.back()`),
		chromedp.WaitVisible(css("#view-execution")),
		waitText("#detail-id", id),
		waitText("#detail-status", "completed"),
		chromedp.Evaluate[chromedp.Void](`history.forward()`),
		chromedp.WaitVisible(css("#exec-table")),
		// A row opens the page too.
		chromedp.Click(css(`#exec-rows tr[data-id="`+id+`"] td:nth-child(2)`)),
		chromedp.WaitVisible(css("#view-execution")),
		waitText("#detail-status", "completed"),
	)
	if err != nil {
		t.Fatalf("back and forward: %v", err)
	}

	// Replay: every stored event again, each marked replay.
	want := fmt.Sprintf("%d events replayed (%d marked replay)", snap.LastSeq, snap.LastSeq)
	if err := chromedp.Do(ctx, chromedp.Click(css("#replay-button")), waitText("#replay-info", want), waitText("#replay-log", "llm_start")); err != nil {
		t.Fatalf("replay: %v", err)
	}

	// Export: the line weft export writes, downloaded as <id>.json.
	if err := chromedp.Do(ctx, chromedp.Click(css("#export-button"))); err != nil {
		t.Fatal(err)
	}
	name, data := dl.next(t, ctx)
	var exported struct {
		Version   int `json:"version"`
		Execution struct {
			ID string `json:"execution_id"`
		} `json:"execution"`
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(data, &exported); err != nil || name != id+".json" || exported.Version != 1 ||
		exported.Execution.ID != id || uint64(len(exported.Events)) != snap.LastSeq {
		t.Errorf("export %s: version %d, id %s, %d events (%v); want %s.json, 1, %s, %d", name, exported.Version,
			exported.Execution.ID, len(exported.Events), err, id, id, snap.LastSeq)
	}

	// Rerun from step 2: a new execution, linked to this one.
	err = chromedp.Do(ctx,
		waitEval(`[...document.getElementById("rerun-step").options].some((o) => o.value === "2")`),
		chromedp.SetValue(css("#rerun-step"), "2"),
		chromedp.Click(css("#rerun-button")),
		waitEval(`location.hash.startsWith("#/executions/") && location.hash !== "#/executions/`+id+`"`),
		waitText("#detail-links", "Rerun of "+id+" from step 2"),
		waitText("#detail-status", "completed"),
		// Step 1 was reused: no events, shown in its place as reused.
		waitEval(`(() => { const g = document.querySelector("#timeline > li.step"); return g.dataset.step === "1" && g.querySelector(".step-head").textContent.includes("reused"); })()`),
		waitText(`#timeline li.step[data-step="2"] .step-head`, "done"),
	)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	rerun, _ := chromedp.Run(ctx, chromedp.TextContent(css("#detail-id")))
	if rs, err := srv.Service().GetExecution(context.Background(), who, rerun); err != nil || !strings.Contains(string(rs.Metadata), `"rerun_of":"`+id+`"`) {
		t.Errorf("the rerun %s: metadata %s (%v)", rerun, rs.Metadata, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(`#detail-links a`)), waitText("#detail-id", id)); err != nil {
		t.Fatalf("the link back to the original: %v", err)
	}
	// The original links to its rerun (executions.list by metadata).
	err = chromedp.Do(ctx,
		waitText("#detail-links .rerun-link", "Rerun as "+rerun+" from step 2"),
		chromedp.Click(css(`#detail-links .rerun-link a`)), waitText("#detail-id", rerun),
	)
	if err != nil {
		t.Fatalf("the link from the original to its rerun: %v", err)
	}

	// A child workflow: listed, its steps nested under its own.
	pres, err := srv.Service().Start(context.Background(), who, actors.StartRequest{Name: "parent", Parameters: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, srv, who, pres.ExecutionID)
	err = chromedp.Do(ctx,
		route("#/executions/"+pres.ExecutionID),
		waitText("#detail-status", "completed"),
		waitText("#children", "echo (step 1) completed"),
		chromedp.WaitVisible(css(`#timeline li.step.depth-1[data-step="1.1"]`)),
	)
	if err != nil {
		t.Fatalf("child workflow: %v", err)
	}
	screenshot(t, ctx, "execution-child")
}

// TestConsoleExecutionActions: what an execution waits for (a signal, a
// sleep until when), retries and attempts in the timeline, Signal that
// refuses a payload that is not JSON (nothing sent) and delivers a good
// one, and Cancel, enabled while the execution lives and disabled once it
// has ended.
func TestConsoleExecutionActions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-act", "jon")
	who := weft.Identity{Name: "jon", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}
	start := func(wf, params string) string {
		t.Helper()
		res, err := srv.Service().Start(context.Background(), who, actors.StartRequest{Name: wf, Parameters: json.RawMessage(params)})
		if err != nil {
			t.Fatal(err)
		}
		return res.ExecutionID
	}
	flaky := start("flaky", `{"fail_times":2}`)
	waitEnded(t, srv, who, flaky)
	approval := start("approval", `{}`)
	nap := start("nap", `{"seconds":3600}`)

	ctx := headless(t, 60*time.Second)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	disabled := func(id string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("`+id+`").disabled`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Retries: attempts 3, 2 retries, on the flaky task's step.
	err := chromedp.Do(ctx,
		login(srv, "tok-act"),
		route("#/executions/"+flaky),
		waitText("#detail-status", "completed"),
		waitText(`#timeline li.step[data-step="1"] .step-head`, "attempts 3"),
		waitText(`#timeline li.step[data-step="1"] .step-head`, "2 retries"),
		waitText(`#timeline li.step[data-step="1"]`, "will retry"),
	)
	if err != nil {
		t.Fatalf("retries: %v", err)
	}
	if !disabled("cancel-button") || !disabled("signal-button") {
		t.Error("Cancel or Signal enabled for a completed execution")
	}

	// A signal wait: named; a bad payload is refused in the page.
	err = chromedp.Do(ctx,
		route("#/executions/"+approval),
		waitText("#detail-waiting", "waiting for the signal approve"),
		chromedp.WaitEnabled(css("#signal-button")),
		chromedp.SetValue(css("#signal-name"), "approve"),
		chromedp.SetValue(css("#signal-payload"), `{"ok": tru}`),
		chromedp.Click(css("#signal-button")),
		waitText("#signal-error", "payload is not valid JSON"),
	)
	if err != nil {
		t.Fatalf("a bad signal payload: %v", err)
	}
	screenshot(t, ctx, "execution-signal-error")
	if s, err := srv.Service().GetExecution(context.Background(), who, approval); err != nil || s.Status != weft.StatusWaiting {
		t.Fatalf("after a refused payload the approval is %s (%v), want still waiting", s.Status, err)
	}
	if disabled("cancel-button") {
		t.Error("Cancel disabled for a waiting execution")
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(css("#signal-payload"), `{"ok": true, "by": "console"}`),
		chromedp.Click(css("#signal-button")),
		waitText("#action-message", `Signal "approve" delivered.`),
		waitText("#detail-status", "completed"),
		waitText("#detail-result", `"by": "console"`),
		chromedp.WaitReady(css("#cancel-button:disabled")),
	)
	if err != nil {
		t.Fatalf("signal: %v", err)
	}
	if !disabled("cancel-button") || !disabled("signal-button") {
		t.Error("Cancel or Signal still enabled once the approval completed")
	}

	// A durable sleep: until when; then cancelled from the page.
	err = chromedp.Do(ctx,
		route("#/executions/"+nap),
		waitText("#detail-waiting", "sleeping (step 1) until"),
		waitText("#detail-waiting", "(in 59m"),
		waitText("#timeline", "timer_started"),
	)
	if err != nil {
		t.Fatalf("a sleep: %v", err)
	}
	screenshot(t, ctx, "execution-sleeping")
	err = chromedp.Do(ctx,
		chromedp.WaitEnabled(css("#cancel-button")),
		chromedp.Click(css("#cancel-button")),
		waitText("#detail-status", "cancelled"),
		chromedp.WaitReady(css("#cancel-button:disabled")),
		waitText("#detail-waiting", "cancelled at"),
	)
	if err != nil {
		t.Fatalf("cancel a sleep: %v", err)
	}
}

// llmTexts reads an execution's stored events over HTTP and joins each
// step's llm_delta texts.
func llmTexts(t *testing.T, srv *server.Server, token, id string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.Addr()+"/api/v1/executions/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Details struct {
					StepID string `json:"step_id"`
					Text   string `json:"text"`
				} `json:"details"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "llm_delta" {
			out[ev.Data.Details.StepID] += ev.Data.Details.Text
		}
	}
	return out
}

func sameJSON(v any, raw json.RawMessage) bool {
	var w any
	if json.Unmarshal(raw, &w) != nil {
		return false
	}
	a, _ := json.Marshal(v)
	b, _ := json.Marshal(w)
	return string(a) == string(b)
}

func isHidden(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("`+id+`").hidden`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
