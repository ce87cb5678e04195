package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft"
)

// TestConsoleDeletesEndedExecution: the execution detail's Delete button
// is disabled while the execution is live (waiting for a signal), enabled
// once it has ended (cancelled from the console), asks for a confirmation
// (dismissed: nothing is deleted), and once confirmed deletes it: the
// detail says "deleted", the list drops it and the server answers
// EXECUTION_NOT_FOUND.
func TestConsoleDeletesEndedExecution(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-del", "erin")
	who := weft.Identity{Name: "erin", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeAdmin}}

	ctx := headless(t, 60*time.Second)

	// Each confirm() the page opens is answered with the next decision.
	decisions := make(chan bool, 2)
	asked := make(chan string, 2)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening) // starts the browser: before any other action
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			asked <- ev.Message
			accept := false
			select {
			case accept = <-decisions:
			default:
				t.Errorf("unexpected dialog %q", ev.Message)
			}
			go func() { // not on the goroutine that receives the events
				_, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
				if err != nil && ctx.Err() == nil {
					t.Errorf("answer the dialog: %v", err)
				}
			}()
		}
	}()

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	deleteDisabled := func() bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("delete-button").disabled`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// A live approval, waiting for its signal: Delete is disabled.
	err := chromedp.Do(ctx,
		login(srv, "tok-del"),
		startFromForm("approval"),
		chromedp.Click(css("#start-button")),
		chromedp.WaitVisible(css("#detail")),
		waitText("#timeline", "signal_waiting"),
	)
	if err != nil {
		t.Fatalf("start an approval in the console: %v", err)
	}
	id, err := chromedp.Run(ctx, chromedp.Text(css("#detail-id")))
	if err != nil || !strings.HasPrefix(id, "exec_") {
		t.Fatalf("detail id %q (%v)", id, err)
	}
	if !deleteDisabled() {
		t.Fatal("Delete is enabled for a live (waiting) execution")
	}

	// Cancelled: Delete is enabled; a dismissed confirmation deletes nothing.
	decisions <- false
	err = chromedp.Do(ctx,
		chromedp.WaitEnabled(css("#cancel-button")),
		chromedp.Click(css("#cancel-button")),
		waitText("#detail-status", "cancelled"),
		chromedp.WaitEnabled(css("#delete-button")),
		chromedp.Click(css("#delete-button")),
	)
	if err != nil {
		t.Fatalf("cancel, then Delete dismissed: %v", err)
	}
	if msg := <-asked; !strings.Contains(msg, id) {
		t.Errorf("the confirmation %q does not name %s", msg, id)
	}
	time.Sleep(200 * time.Millisecond) // a delete, were one sent, would land meanwhile
	if _, err := srv.Service().GetExecution(context.Background(), who, id); err != nil {
		t.Fatalf("a dismissed confirmation deleted the execution: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(css("#detail-status")))
	if err != nil || status != "cancelled" {
		t.Fatalf("status after a dismissed Delete: %q (%v)", status, err)
	}

	// Confirmed: deleted, on the page and on the server.
	decisions <- true
	err = chromedp.Do(ctx,
		chromedp.Click(css("#delete-button")),
		waitText("#detail-status", "deleted"),
		route("#/executions"),
		chromedp.WaitVisible(css("#exec-table")),
		waitText("#exec-empty", "No executions match"),
		waitNoText("#exec-rows", id),
	)
	if err != nil {
		t.Fatalf("Delete confirmed: %v", err)
	}
	<-asked
	if _, err := srv.Service().GetExecution(context.Background(), who, id); weft.ErrorCode(err) != weft.CodeExecutionNotFound {
		t.Fatalf("after Delete in the console, get = %v, want EXECUTION_NOT_FOUND", err)
	}
	if !deleteDisabled() {
		t.Error("Delete still enabled for a deleted execution")
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(css("#detail-error"))); text != "" {
		t.Errorf("detail error after a good delete: %q", text)
	}
}

// waitNoText polls until the element's text no longer contains unwanted.
func waitNoText(sel, unwanted string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			text, err := chromedp.Text(chromedp.CSS(sel))(ctx, t)
			if err != nil {
				return chromedp.Void{}, err
			}
			if !strings.Contains(text, unwanted) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %q to leave %s: %w", unwanted, sel, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
