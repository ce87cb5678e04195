package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/weft-run/weft/client"
)

func TestStartEchoEveryAuthMethod(t *testing.T) {
	ts := startServer(t, "", "")
	for _, m := range []client.AuthMethod{client.AuthHeader, client.AuthQuery, client.AuthSubprotocol, client.AuthInBand} {
		t.Run(fmt.Sprint(m), func(t *testing.T) {
			ctx := testCtx(t)
			c := dial(t, ts.url(), client.Options{Auth: m})
			if info := c.Info(); info.Identity != "alice" || info.Workspace != "acme" || info.ConnectionID == "" {
				t.Fatalf("connected = %+v", info)
			}
			exec, err := c.Start(ctx, "echo", map[string]any{"hello": "world"})
			if err != nil {
				t.Fatal(err)
			}
			if exec.ID() == "" {
				t.Fatal("no execution id")
			}
			evs := collect(t, exec)
			checkStream(t, evs, "execution_completed")
			res, err := exec.Result(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			if err := json.Unmarshal(res, &got); err != nil || got["hello"] != "world" {
				t.Fatalf("result %s (%v)", res, err)
			}
		})
	}
}

func TestWrongTokenIsUnauthenticated(t *testing.T) {
	ts := startServer(t, "", "")
	for _, m := range []client.AuthMethod{client.AuthHeader, client.AuthQuery, client.AuthSubprotocol, client.AuthInBand} {
		_, err := client.Dial(testCtx(t), ts.url(), client.Options{Token: "nope", Auth: m})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != client.CodeUnauthenticated || ce.Retryable {
			t.Fatalf("auth %d: err = %v, want UNAUTHENTICATED", m, err)
		}
	}
}

func TestCountdownWithChannelAndResult(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 5, "delay_ms": 1})
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.Event
	for ev := range exec.Chan() {
		evs = append(evs, ev)
	}
	checkStream(t, evs, "execution_completed")
	if n := count(evs, "task_end"); n != 5 {
		t.Fatalf("%d task_end, want 5", n)
	}
	res, err := exec.Result(ctx)
	if err != nil || string(res) != `{"steps":5}` {
		t.Fatalf("result %s, %v", res, err)
	}
	// Subscribing to the ended execution from the middle gives the rest.
	sub, err := c.Subscribe(ctx, exec.ID(), 3)
	if err != nil {
		t.Fatal(err)
	}
	rest := collect(t, sub)
	if len(rest) != len(evs)-3 || rest[0].Seq != 4 {
		t.Fatalf("subscribe after 3: %d events from seq %d, want %d from 4", len(rest), rest[0].Seq, len(evs)-3)
	}
	// And from the end: nothing, then the outcome from a snapshot.
	sub, err = c.Subscribe(ctx, exec.ID(), exec.LastSeq())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); err != io.EOF {
		t.Fatalf("Next after the end = %v, want EOF", err)
	}
	if res, err := sub.Result(ctx); err != nil || string(res) != `{"steps":5}` {
		t.Fatalf("result via snapshot %s, %v", res, err)
	}
}

func TestManyExecutionsOneConnection(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 3 + i%4, "delay_ms": 2})
			if err != nil {
				errs <- err
				return
			}
			want := uint64(1)
			for ev := range exec.Events() {
				if ev.Seq != want || ev.ExecutionID != exec.ID() {
					errs <- fmt.Errorf("exec %s: event seq %d of %s, want seq %d", exec.ID(), ev.Seq, ev.ExecutionID, want)
					return
				}
				want++
			}
			if _, err := exec.Result(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := c.List(ctx, client.ListOptions{Workflow: "countdown", Limit: 100})
	if err != nil || len(list.Items) != n {
		t.Fatalf("list: %d items, %v", len(list.Items), err)
	}
}

func TestErrorsMapToCodes(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	check := func(what string, err error, code string, retryable bool) {
		t.Helper()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != code || ce.Retryable != retryable {
			t.Errorf("%s: err = %v, want %s", what, err, code)
		}
		if !errors.Is(err, &client.Error{Code: code}) || client.ErrorCode(err) != code {
			t.Errorf("%s: errors.Is / ErrorCode do not match %s", what, code)
		}
	}
	_, err := c.Start(ctx, "no-such-workflow", nil)
	check("start", err, client.CodeWorkflowNotFound, false)
	_, err = c.Get(ctx, "exec_missing")
	check("get", err, client.CodeExecutionNotFound, false)
	_, err = c.Subscribe(ctx, "exec_missing", 0)
	check("subscribe", err, client.CodeExecutionNotFound, false)
	_, err = c.Start(ctx, "countdown", map[string]any{"steps": "many"})
	check("bad params", err, client.CodeInvalidRequest, false)
	err = c.Call(ctx, "no.such.service", nil, nil)
	check("service", err, client.CodeUnknownService, false)
	err = c.Send(ctx, "ws_gone", map[string]int{"x": 1})
	check("send", err, client.CodeConnectionNotFound, false)

	reader := dial(t, ts.url(), client.Options{Token: readerToken})
	_, err = reader.Start(ctx, "echo", nil)
	check("reader start", err, client.CodeForbidden, false)

	// A failed workflow is an *ExecutionError from Result.
	exec, err := c.Start(ctx, "flaky", map[string]int{"fail_times": 11})
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, collect(t, exec), "execution_failed")
	_, err = exec.Result(ctx)
	var xe *client.ExecutionError
	if !errors.As(err, &xe) || xe.Status != "failed" || xe.ExecutionID != exec.ID() {
		t.Fatalf("result err = %v, want *ExecutionError failed", err)
	}
}

func TestCancelAndSignal(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})

	exec, err := c.Start(ctx, "approval", map[string]int{"delay_ms": 1})
	if err != nil {
		t.Fatal(err)
	}
	for ev := range exec.Events() {
		if ev.Type == "signal_waiting" {
			break
		}
	}
	if ok, err := c.Signal(ctx, exec.ID(), "approve", map[string]string{"by": "alice"}); err != nil || !ok {
		t.Fatalf("signal: %v %v", ok, err)
	}
	res, err := exec.Result(ctx)
	if err != nil || string(res) != `{"by":"alice"}` {
		t.Fatalf("approval result %s, %v", res, err)
	}

	exec, err = c.Start(ctx, "approval", map[string]int{"delay_ms": 1})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Cancel(ctx, exec.ID(), "no longer needed"); err != nil || st != "cancelling" {
		t.Fatalf("cancel: %q %v", st, err)
	}
	evs := collect(t, exec)
	checkStream(t, evs, "execution_cancelled")
	_, err = exec.Result(ctx)
	var xe *client.ExecutionError
	if !errors.As(err, &xe) || xe.Status != "cancelled" || xe.Message != "no longer needed" {
		t.Fatalf("result err = %v", err)
	}
	snap, err := c.Get(ctx, exec.ID())
	if err != nil || snap.Status != "cancelled" {
		t.Fatalf("get: %+v %v", snap, err)
	}
}

func TestRoomsPresenceAndMessages(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	a := dial(t, ts.url(), client.Options{})
	b := dial(t, ts.url(), client.Options{})

	joined := make(chan client.PresenceEvent, 10)
	left := make(chan client.PresenceEvent, 10)
	roomMsgs := make(chan client.Message, 10)
	room, n, err := a.Join(ctx, "support", client.WithPresence(client.Presence{
		OnJoined: func(p client.PresenceEvent) { joined <- p },
		OnLeft:   func(p client.PresenceEvent) { left <- p },
	}), client.WithRoomMessages(func(m client.Message) { roomMsgs <- m }))
	if err != nil || n != 1 {
		t.Fatalf("join: %d %v", n, err)
	}
	bRoom, n, err := b.Join(ctx, "support")
	if err != nil || n != 2 {
		t.Fatalf("b join: %d %v", n, err)
	}
	if p := <-joined; p.ConnectionID != b.ConnectionID() || p.Room != "support" {
		t.Fatalf("joined %+v", p)
	}
	members, err := room.Members(ctx)
	if err != nil || len(members) != 2 {
		t.Fatalf("members %+v %v", members, err)
	}
	res, err := bRoom.Broadcast(ctx, map[string]string{"text": "hi"})
	if err != nil || res.DeliveredTo != 1 || res.SubscriberCount != 2 {
		t.Fatalf("broadcast %+v %v", res, err)
	}
	if m := <-roomMsgs; m.From != b.ConnectionID() || string(m.Body) != `{"text":"hi"}` || m.Room != "support" {
		t.Fatalf("room message %+v", m)
	}

	direct := make(chan client.Message, 1)
	remove := a.OnMessage(func(m client.Message) {
		if m.Type == "message" {
			direct <- m
		}
	})
	defer remove()
	if err := b.Send(ctx, a.ConnectionID(), map[string]int{"n": 7}); err != nil {
		t.Fatal(err)
	}
	if m := <-direct; m.From != b.ConnectionID() || string(m.Body) != `{"n":7}` {
		t.Fatalf("direct message %+v", m)
	}

	if n, err := bRoom.Leave(ctx); err != nil || n != 1 {
		t.Fatalf("leave: %d %v", n, err)
	}
	if p := <-left; p.ConnectionID != b.ConnectionID() {
		t.Fatalf("left %+v", p)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c, err := client.Dial(ctx, ts.url(), client.Options{Token: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := c.Start(ctx, "approval", map[string]int{"delay_ms": 1}) // waits for a signal forever
	if err != nil {
		t.Fatal(err)
	}
	ch := exec.Chan()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range ch {
	}
	if _, err := exec.Result(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("result after close: %v", err)
	}
	if _, err := c.Get(ctx, exec.ID()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
}

// Close stops every goroutine the client started, across reconnects.
func TestNoGoroutineLeak(t *testing.T) {
	ts := startServer(t, "", "")
	p := newProxy(t, ts.Addr())
	ctx := testCtx(t)
	warm, err := client.Dial(ctx, ts.url(), client.Options{Token: adminToken}) // warm up the server's pools
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	st := newStates()
	c, err := client.Dial(ctx, p.url(), client.Options{Token: adminToken, Reconnect: fastReconnect, OnStateChange: st.on})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := c.Start(ctx, "approval", map[string]int{"delay_ms": 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = exec.Chan()
	p.cut()
	st.wait(t, client.StateReconnecting)
	st.wait(t, client.StateConnected)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	p.close()
	goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// List's Metadata option filters on the server: only the executions
// started with that metadata come back.
func TestListByMetadata(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	var tagged []string
	for i := range 4 {
		meta := map[string]any{"batch": fmt.Sprint("b", i%2)}
		exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 1}, client.WithMetadata(meta))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			tagged = append(tagged, exec.ID())
		}
	}
	list, err := c.List(ctx, client.ListOptions{Metadata: map[string]string{"batch": "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list.Items {
		got = append(got, s.ExecutionID)
	}
	slices.Sort(got)
	slices.Sort(tagged)
	if !slices.Equal(got, tagged) {
		t.Fatalf("listed %v, want the two with batch b1 %v", got, tagged)
	}
}
