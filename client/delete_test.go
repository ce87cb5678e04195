package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/server"
)

// wantCode fails unless err is a *client.Error with code and that code's
// retryable flag.
func wantCode(t *testing.T, what string, err error, code string, retryable bool) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code || ce.Retryable != retryable {
		t.Fatalf("%s: err = %v, want %s (retryable %v)", what, err, code, retryable)
	}
	if !errors.Is(err, &client.Error{Code: code}) || client.ErrorCode(err) != code || client.IsRetryable(err) != retryable {
		t.Fatalf("%s: errors.Is / ErrorCode / IsRetryable disagree on %v", what, err)
	}
}

// TestDeleteExecution: Delete removes an ended execution (afterwards Get,
// Subscribe and a second Delete are EXECUTION_NOT_FOUND, and the
// idempotency key starts a new execution); a live one is CONFLICT until
// it is cancelled; a token without executions:write is FORBIDDEN.
func TestDeleteExecution(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})

	exec, err := c.Start(ctx, "echo", map[string]any{"n": 1}, client.WithIdempotencyKey("order-7"))
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, collect(t, exec), "execution_completed")
	id := exec.ID()

	reader := dial(t, ts.url(), client.Options{Token: readerToken})
	wantCode(t, "Delete with a read-only token", reader.Delete(ctx, id), client.CodeForbidden, false)
	if _, err := c.Get(ctx, id); err != nil {
		t.Fatalf("a refused Delete removed the execution: %v", err)
	}

	if err := c.Delete(ctx, id); err != nil {
		t.Fatalf("Delete of a completed execution: %v", err)
	}
	_, err = c.Get(ctx, id)
	wantCode(t, "Get after Delete", err, client.CodeExecutionNotFound, false)
	_, err = c.Subscribe(ctx, id, 0)
	wantCode(t, "Subscribe after Delete", err, client.CodeExecutionNotFound, false)
	wantCode(t, "second Delete", c.Delete(ctx, id), client.CodeExecutionNotFound, false)
	wantCode(t, "Delete of an unknown id", c.Delete(ctx, "exec_nope"), client.CodeExecutionNotFound, false)

	// The idempotency key went with it: the same key starts anew.
	again, err := c.Start(ctx, "echo", map[string]any{"n": 1}, client.WithIdempotencyKey("order-7"))
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, collect(t, again), "execution_completed")
	if again.ID() == id {
		t.Fatalf("the deleted execution's key returned it again (%s)", id)
	}

	// A live execution is CONFLICT; cancelled, it can go.
	live, err := c.Start(ctx, "approval", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Next(ctx); err != nil { // started
		t.Fatal(err)
	}
	wantCode(t, "Delete of a live execution", c.Delete(ctx, live.ID()), client.CodeConflict, false)
	if _, err := c.Cancel(ctx, live.ID(), "to delete it"); err != nil {
		t.Fatal(err)
	}
	var xe *client.ExecutionError
	if _, err := live.Result(ctx); !errors.As(err, &xe) || xe.Status != "cancelled" {
		t.Fatalf("Result after Cancel: %v", err)
	}
	if err := c.Delete(ctx, live.ID()); err != nil {
		t.Fatalf("Delete of a cancelled execution: %v", err)
	}
	list, err := c.List(ctx, client.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list.Items {
		if x.ExecutionID == id || x.ExecutionID == live.ID() {
			t.Fatalf("List still has deleted %s", x.ExecutionID)
		}
	}
	if len(list.Items) != 1 || list.Items[0].ExecutionID != again.ID() {
		t.Fatalf("List after the deletes = %+v, want only %s", list.Items, again.ID())
	}
}

// TestLimitExceededIsNotRetried: past --max-inflight the server answers
// LIMIT_EXCEEDED (not retryable) and the client hands it back at once,
// without retrying; once a stream is closed there is room again.
func TestLimitExceededIsNotRetried(t *testing.T) {
	ts := startServerWith(t, "", "", func(cfg *server.Config) { cfg.Socket.MaxInflight = 2 })
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})

	var streams []*client.Execution
	for range 2 {
		exec, err := c.Start(ctx, "approval", map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, exec)
	}
	began := time.Now()
	_, err := c.Start(ctx, "approval", map[string]any{})
	wantCode(t, "a third stream over max-inflight 2", err, client.CodeLimitExceeded, false)
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("LIMIT_EXCEEDED took %v: retried?", d)
	}
	err = c.Ping(ctx)
	wantCode(t, "a ping while 2 streams are in flight", err, client.CodeLimitExceeded, false)

	// Stop following one: its slot frees once the server has the unsubscribe.
	streams[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(ctx)
		if err == nil {
			break
		}
		if client.ErrorCode(err) != client.CodeLimitExceeded || time.Now().After(deadline) {
			t.Fatalf("ping after closing a stream: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Cancel(ctx, streams[1].ID(), ""); err != nil {
		t.Fatal(err)
	}
}
