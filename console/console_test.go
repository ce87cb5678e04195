package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	js "github.com/weft-run/weft/clients/js"
	"github.com/weft-run/weft/console"
)

func TestHandlerServesEmbeddedAssets(t *testing.T) {
	ts := httptest.NewServer(http.StripPrefix("", console.Handler()))
	defer ts.Close()
	for path, want := range map[string]string{
		"/console/":        "<title>weft console</title>",
		"/console/app.js":  `import { WeftClient } from "./weft.js"`,
		"/console/weft.js": "export class WeftClient",
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if path == "/console/weft.js" && string(body) != string(js.Source) {
			t.Error("the console serves a weft.js that is not clients/js/weft.js")
		}
	}
}

// chromium finds a Chromium or Chrome binary, or skips: CI installs
// Debian's chromium (.ci/run).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary found (apt-get install -y chromium); the console browser test needs one")
	return ""
}

// TestConsoleInHeadlessChromium drives the real console in headless
// Chromium against a real weft server: log in with a token, start
// search-candidates and see its events and streamed LLM text, cancel a
// countdown, pause a schedule.
func TestConsoleInHeadlessChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	// The console is served by the weft server it talks to (it talks to
	// no other).
	srv := consoleServer(t, "tok-console", "carol")

	ctx := headless(t, 90*time.Second)

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	err := chromedp.Do(ctx,
		login(srv, "tok-console"),
		// Start search-candidates from the parameters form.
		startFromForm("search-candidates"),
		chromedp.WaitVisible(css(`input[data-param="user_query"]`)),
		chromedp.SetValue(css(`input[data-param="user_query"]`), "senior go engineer"),
		chromedp.SetValue(css(`input[data-param="organization_id"]`), "org_1"),
		chromedp.Click(css("#start-button")),
		chromedp.WaitVisible(css("#detail")),
		waitText("#detail-status", "completed"),
		waitText("#llm-output", "Best matches"),
	)
	if err != nil {
		t.Fatalf("search-candidates in the console: %v", err)
	}
	llm, err := chromedp.Run(ctx, chromedp.Text(css("#llm-output")))
	if err != nil {
		t.Fatal(err)
	}
	timeline, err := chromedp.Run(ctx, chromedp.Text(css("#timeline")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"execution_started", "task_start", "llm_start", "tool_end", "execution_completed"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %s:\n%s", want, timeline)
		}
	}
	t.Logf("streamed LLM text: %q", llm)

	// Start a long countdown, cancel it with the button.
	err = chromedp.Do(ctx,
		startFromForm("countdown"),
		chromedp.WaitVisible(css(`input[data-param="steps"]`)),
		chromedp.SetValue(css(`input[data-param="steps"]`), "200"),
		chromedp.SetValue(css(`input[data-param="delay_ms"]`), "200"),
		chromedp.Click(css("#start-button")),
		waitText("#timeline", "task_start"),
		chromedp.WaitEnabled(css("#cancel-button")),
		chromedp.Click(css("#cancel-button")),
		waitText("#detail-status", "cancelled"),
		waitText("#timeline", "execution_cancelled"),
		// The list shows both executions with their status.
		route("#/executions"),
		chromedp.WaitVisible(css("#exec-rows")),
		waitText("#exec-rows", "cancelled"),
		waitText("#exec-rows", "search-candidates"),
	)
	if err != nil {
		t.Fatalf("cancel a countdown in the console: %v", err)
	}

	// Schedules: a daily schedule appears, and the console pauses it.
	who := weft.Identity{Name: "carol", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}
	created, err := srv.Service().CreateSchedule(context.Background(), who, actors.ScheduleRequest{
		Workflow: "echo", Parameters: json.RawMessage(`{"from":"schedule"}`), Cron: "0 9 * * *", TZ: "Europe/Paris",
	})
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		route("#/schedules"),
		waitText("#schedule-rows", created.ScheduleID),
		waitText("#schedule-rows", "cron 0 9 * * * Europe/Paris"),
		waitText("#queue-depth", "0 execution(s) queued"),
		chromedp.Click(css(`#schedule-rows tr[data-schedule="`+created.ScheduleID+`"] button`)),
		waitText("#schedule-rows", "paused"),
	)
	if err != nil {
		t.Fatalf("schedules in the console: %v", err)
	}
	if info, err := srv.Service().GetSchedule(context.Background(), who, created.ScheduleID); err != nil || !info.Paused {
		t.Fatalf("after Pause in the console: %+v, %v", info, err)
	}
	screenshot(t, ctx, "schedules")
}

// waitText polls until the element's text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			text, err := chromedp.Text(chromedp.CSS(sel))(ctx, t)
			if err != nil {
				return chromedp.Void{}, err
			}
			if strings.Contains(text, want) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %q in %s (has %q): %w", want, sel, text, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
