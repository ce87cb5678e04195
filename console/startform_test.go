package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
)

// TestStartFormRefusesBadNumbers: the start form refuses a non-number in a
// number field with a message next to it (it used to send null), sends
// nothing, and starts once the field is fixed.
func TestStartFormRefusesBadNumbers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-form", "dora")
	who := weft.Identity{Name: "dora", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}
	executions := func() int {
		list, err := srv.Service().ListExecutions(context.Background(), who, actors.ListRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}

	ctx := headless(t, 60*time.Second)

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	steps := css(`input[data-param="steps"]`)
	stepsError := css(`[data-param-error="steps"]`)
	err := chromedp.Do(ctx,
		login(srv, "tok-form"),
		startFromForm("countdown"),
		chromedp.WaitVisible(steps),
		// Not a number: refused in the page, with a visible reason.
		chromedp.SetValue(steps, "abc"),
		chromedp.Click(css("#start-button")),
		waitText("#start-error", "steps: not a number"),
		waitText(`[data-param-error="steps"]`, "not a number"),
		// Not a whole number, for an integer field.
		chromedp.SetValue(steps, "1.5"),
		chromedp.Click(css("#start-button")),
		waitText("#start-error", "steps: not a whole number"),
	)
	if err != nil {
		t.Fatalf("bad numbers in the start form: %v", err)
	}
	invalid, err := chromedp.Run(ctx, chromedp.AttributeValue(steps, "aria-invalid"))
	if err != nil || invalid.Value != "true" {
		t.Errorf("the refused field has aria-invalid=%q (%v), want true", invalid.Value, err)
	}
	if n := executions(); n != 0 {
		t.Fatalf("the refused form started %d executions", n)
	}

	// Out of the advertised bounds: refused in the page too, with the
	// schema's bound.
	err = chromedp.Do(ctx,
		chromedp.SetValue(steps, "200000"),
		chromedp.Click(css("#start-button")),
		waitText("#start-error", "steps: must be ≤ 10000"),
		waitText(`[data-param-error="steps"]`, "must be ≤ 10000"),
		// Required and left empty.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('input[data-param="steps"]').value = ""`),
		chromedp.Click(css("#start-button")),
		waitText("#start-error", "steps: required"),
	)
	if err != nil {
		t.Fatalf("steps over the maximum, then empty: %v", err)
	}
	if n := executions(); n != 0 {
		t.Fatalf("a refused form started %d executions", n)
	}
	screenshot(t, ctx, "start-form-errors")

	// What the page cannot check, the server refuses, and the page shows
	// its answer as is: metadata that is not an object.
	err = chromedp.Do(ctx,
		chromedp.SetValue(steps, "2"),
		chromedp.SetValue(css("#start-metadata"), "[1]"),
		chromedp.Click(css("#start-button")),
		waitText("#start-error", "metadata"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("start-metadata").value = ""`),
	)
	if err != nil {
		t.Fatalf("metadata not an object: %v", err)
	}
	if n := executions(); n != 0 {
		t.Fatalf("a refused start created %d executions", n)
	}

	// Fixed: the message goes and the execution starts.
	err = chromedp.Do(ctx,
		chromedp.SetValue(steps, "2"),
		chromedp.SetValue(css(`input[data-param="delay_ms"]`), "1"),
		chromedp.Click(css("#start-button")),
		waitText("#detail-status", "completed"),
	)
	if err != nil {
		t.Fatalf("a fixed form: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(stepsError))
	if err != nil || msg != "" {
		t.Errorf("the field's message after the fix = %q (%v), want none", msg, err)
	}
	if n := executions(); n != 1 {
		t.Fatalf("%d executions after one good start, want 1", n)
	}
}
