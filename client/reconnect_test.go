package client_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/client"
)

// The server is shut down mid-stream and a new one started on the same
// data dir and address: the consumer sees seq 1..n once each, in order.
func TestServerRestartMidStream(t *testing.T) {
	first := startServer(t, "", "")
	addr, dir := first.Addr(), first.dir
	ctx := testCtx(t)
	st := newStates()
	c := dial(t, first.url(), client.Options{OnStateChange: st.on})

	exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 30, "delay_ms": 20})
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.Event
	for ev := range exec.Events() {
		evs = append(evs, ev)
		if ev.Type == "task_end" && len(evs) > 8 {
			break
		}
	}
	first.stop(t)
	st.wait(t, client.StateReconnecting)
	startServer(t, dir, addr)
	st.wait(t, client.StateConnected)

	evs = append(evs, collect(t, exec)...)
	checkStream(t, evs, "execution_completed")
	if n := count(evs, "task_end"); n != 30 {
		t.Fatalf("%d task_end, want 30", n)
	}
	if res, err := exec.Result(ctx); err != nil || string(res) != `{"steps":30}` {
		t.Fatalf("result %s %v", res, err)
	}
}

// Connections are cut by a TCP proxy, repeatedly, while several
// executions stream on one client: every stream is complete, in order,
// without duplicates; rooms are joined again after each reconnect.
func TestProxyCutsMidStream(t *testing.T) {
	ts := startServer(t, "", "")
	p := newProxy(t, ts.Addr())
	ctx := testCtx(t)
	st := newStates()
	c := dial(t, p.url(), client.Options{OnStateChange: st.on})
	direct := dial(t, ts.url(), client.Options{})

	msgs := make(chan client.Message, 100)
	if _, _, err := c.Join(ctx, "lobby", client.WithRoomMessages(func(m client.Message) { msgs <- m })); err != nil {
		t.Fatal(err)
	}

	const n = 4
	execs := make([]*client.Execution, n)
	for i := range execs {
		var err error
		if execs[i], err = c.Start(ctx, "countdown", map[string]int{"steps": 30, "delay_ms": 10}); err != nil {
			t.Fatal(err)
		}
	}
	streams := make([][]client.Event, n)
	var wg sync.WaitGroup
	progress := make(chan struct{}, 1000)
	for i, exec := range execs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range exec.Events() {
				streams[i] = append(streams[i], ev)
				progress <- struct{}{}
			}
		}()
	}
	for cut := 0; cut < 3; cut++ {
		for range 10 { // let some events through, then cut
			<-progress
		}
		before := c.ConnectionID()
		p.cut()
		st.wait(t, client.StateReconnecting)
		st.wait(t, client.StateConnected)
		if c.ConnectionID() == before {
			t.Fatal("same connection id after a reconnect")
		}
	}
	wg.Wait()
	for i, exec := range execs {
		if err := exec.Err(); err != nil {
			t.Fatalf("exec %d: %v", i, err)
		}
		checkStream(t, streams[i], "execution_completed")
		if got := count(streams[i], "task_end"); got != 30 {
			t.Fatalf("exec %d: %d task_end", i, got)
		}
	}

	// The room was joined again with the new connection id.
	for {
		members, err := direct.Members(ctx, "lobby")
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(members, func(m client.Member) bool { return m.ConnectionID == c.ConnectionID() }) {
			if len(members) != 1 {
				t.Fatalf("members %+v: old connections still in the room", members)
			}
			break
		}
		time.Sleep(10 * time.Millisecond) // the re-join is on its way
	}
	if _, err := direct.Broadcast(ctx, "lobby", map[string]string{"after": "cuts"}); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; string(m.Body) != `{"after":"cuts"}` {
		t.Fatalf("room message %+v", m)
	}
}

// A client closed by the server (connection.close, 4000) reconnects and
// resumes too.
func TestResumeAfterServerSideClose(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	st := newStates()
	c := dial(t, ts.url(), client.Options{OnStateChange: st.on})
	admin := dial(t, ts.url(), client.Options{})
	exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 20, "delay_ms": 10})
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.Event
	for ev := range exec.Events() {
		evs = append(evs, ev)
		if len(evs) == 5 {
			break
		}
	}
	if err := admin.CloseConnection(ctx, c.ConnectionID(), "test"); err != nil {
		t.Fatal(err)
	}
	st.wait(t, client.StateReconnecting)
	evs = append(evs, collect(t, exec)...)
	checkStream(t, evs, "execution_completed")
}

// While disconnected, requests wait in a bounded queue and go out on the
// next connection; past the bound they fail fast.
func TestQueueWhileDisconnected(t *testing.T) {
	ts := startServer(t, "", "")
	p := newProxy(t, ts.Addr())
	ctx := testCtx(t)
	st := newStates()
	c := dial(t, p.url(), client.Options{QueueWhileDisconnected: 2, OnStateChange: st.on})

	done, err := c.Start(ctx, "echo", map[string]int{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := done.Result(ctx); err != nil {
		t.Fatal(err)
	}
	p.block(true)
	p.cut()
	st.wait(t, client.StateReconnecting)

	type started struct {
		exec *client.Execution
		err  error
	}
	startCh := make(chan started, 1)
	go func() {
		exec, err := c.Start(ctx, "echo", map[string]int{"queued": 1})
		startCh <- started{exec, err}
	}()
	getCh := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, done.ID())
		getCh <- err
	}()
	for c.QueueLen() < 2 {
		// both requests are queued
		select {
		case s := <-startCh:
			t.Fatalf("start returned while disconnected: %v", s.err)
		case err := <-getCh:
			t.Fatalf("get returned while disconnected: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	// The queue is full: the next request fails fast.
	_, err = c.Get(ctx, done.ID())
	if client.ErrorCode(err) != client.CodeUnavailable || !client.IsRetryable(err) {
		t.Fatalf("third request: %v, want UNAVAILABLE", err)
	}

	p.block(false)
	s := <-startCh
	if s.err != nil {
		t.Fatal(s.err)
	}
	checkStream(t, collect(t, s.exec), "execution_completed")
	if err := <-getCh; err != nil {
		t.Fatal(err)
	}
}

func TestFailFastWhileDisconnected(t *testing.T) {
	ts := startServer(t, "", "")
	p := newProxy(t, ts.Addr())
	ctx := testCtx(t)
	st := newStates()
	c := dial(t, p.url(), client.Options{OnStateChange: st.on})
	p.block(true)
	p.cut()
	st.wait(t, client.StateReconnecting)
	_, err := c.Start(ctx, "echo", nil)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != client.CodeUnavailable || !ce.Retryable {
		t.Fatalf("start while disconnected: %v", err)
	}
	if _, err := c.Workflows(ctx); client.ErrorCode(err) != client.CodeUnavailable {
		t.Fatalf("list while disconnected: %v", err)
	}
	p.block(false)
	st.wait(t, client.StateConnected)
	if _, err := c.Workflows(ctx); err != nil {
		t.Fatal(err)
	}
}

// A bounded reconnect gives up with WS_CONNECTION_FAILED: live executions
// and later requests get it.
func TestReconnectGivesUp(t *testing.T) {
	ts := startServer(t, "", "")
	p := newProxy(t, ts.Addr())
	ctx := testCtx(t)
	st := newStates()
	policy := fastReconnect
	policy.MaxAttempts = 3
	c := dial(t, p.url(), client.Options{Reconnect: policy, OnStateChange: st.on})
	exec, err := c.Start(ctx, "approval", map[string]int{"delay_ms": 1})
	if err != nil {
		t.Fatal(err)
	}
	p.block(true)
	p.cut()
	st.wait(t, client.StateFailed)
	_, err = exec.Result(ctx)
	if client.ErrorCode(err) != client.CodeConnectionFailed || !client.IsRetryable(err) {
		t.Fatalf("result: %v, want WS_CONNECTION_FAILED", err)
	}
	if _, err := c.Get(ctx, exec.ID()); client.ErrorCode(err) != client.CodeConnectionFailed {
		t.Fatalf("get after giving up: %v", err)
	}
}

func TestReconnectDelay(t *testing.T) {
	p := client.ReconnectPolicy{Jitter: -1}
	want := []string{"1s", "2s", "4s", "8s", "16s", "30s", "30s"}
	for n, w := range want {
		if got := p.Delay(n).String(); got != w {
			t.Errorf("Delay(%d) = %s, want %s", n, got, w)
		}
	}
	j := client.ReconnectPolicy{Base: 100, Max: 1000, Jitter: 0.5}
	for n := range 10 {
		full := min(100<<n, 1000)
		if d := j.Delay(n); d > 1000 || int(d) < full/2 {
			t.Errorf("jittered Delay(%d) = %d outside [%d, %d]", n, d, full/2, full)
		}
	}
}
