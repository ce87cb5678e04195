package server_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/weft-run/weft/internal/logbuf"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/server"
)

// Issue 16: abuse, quotas, timeouts and who may start what. Each test
// boots a real server on 127.0.0.1:0 and talks raw TCP where the point is
// what happens on the wire.

func logTo(buf *logbuf.Buffer) func(*server.Config) {
	return func(c *server.Config) {
		log := zerolog.New(buf).Level(zerolog.DebugLevel)
		c.Logger = &log
	}
}

// releaseClientConns closes the test client's idle connections before the
// server stops: connections the client dialled but never used would hold
// http.Server.Shutdown for 5 s.
func releaseClientConns(t *testing.T) { t.Cleanup(http.DefaultClient.CloseIdleConnections) }

func dialTCP(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedWithin reads until the server ends the connection, failing if it
// is still open after d.
func closedWithin(t *testing.T, conn net.Conn, r io.Reader, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection is still open after %s", d)
	}
	return time.Since(start)
}

// An idle keep-alive connection is closed after IdleTimeout (the review
// found one still open at 40 s; nothing closed it).
func TestIdleKeepAliveConnectionClosed(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.HTTP.IdleTimeout = 300 * time.Millisecond })
	conn := dialTCP(t, ts)
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: weft\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	took := closedWithin(t, conn, br, 3*time.Second)
	t.Logf("idle connection closed after %s (IdleTimeout 300ms)", took.Round(time.Millisecond))
}

// A client that sends its headers (or body) too slowly loses the
// connection after ReadHeaderTimeout (ReadTimeout).
func TestSlowRequestsCut(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) {
		c.HTTP.ReadHeaderTimeout = 300 * time.Millisecond
		c.HTTP.ReadTimeout = 600 * time.Millisecond
	})
	t.Run("headers", func(t *testing.T) {
		conn := dialTCP(t, ts)
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: weft\r\n") // never ends
		closedWithin(t, conn, conn, 3*time.Second)
	})
	t.Run("body", func(t *testing.T) {
		conn := dialTCP(t, ts)
		fmt.Fprintf(conn, "POST /api/v1/workflows/echo/executions HTTP/1.1\r\nHost: weft\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"param", adminToken)
		br := bufio.NewReader(conn)
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("a body cut short answered %d", resp.StatusCode)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a body that never ends held the request past 3 s (ReadTimeout 600ms)")
		}
	})
	t.Run("headers too large", func(t *testing.T) {
		r := httpDo(t, ts, "GET", "/api/v1/workflows", adminToken, nil, "X-Padding", strings.Repeat("p", 64<<10))
		if r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("64 KiB of headers answered %d, want 431", r.status)
		}
	})
}

// Event streams and sockets outlive ReadTimeout: it bounds reading a
// request, not an answer that follows an execution for minutes.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) {
		c.HTTP.ReadTimeout = 300 * time.Millisecond
		c.HTTP.Heartbeat = 100 * time.Millisecond
	})
	id := httpStart(t, ts, adminToken, "approval", map[string]any{})
	httpWaitStatus(t, ts, adminToken, id, "waiting")

	req := newHTTPRequest(t, ts, "GET", "/api/v1/executions/"+id+"/events", adminToken, nil, "Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSE answered %d", resp.StatusCode)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	sock := dial(t, ts, adminToken)

	// Well past ReadTimeout, the stream still delivers heartbeats.
	deadline := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case _, ok := <-lines:
			if !ok {
				t.Fatal("the SSE stream ended before its execution did")
			}
		case <-time.After(time.Until(deadline)):
		}
	}
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the SSE stream ended after ReadTimeout")
		}
		_ = l
	case <-time.After(time.Second):
		t.Fatal("no heartbeat for 1 s after ReadTimeout")
	}
	// The socket, idle for as long, still answers.
	if f := sock.call("p", "ping", nil); f.Error != nil || !strings.Contains(string(f.Response), "pong") {
		t.Fatalf("ping after ReadTimeout: %+v", f)
	}

	httpDo(t, ts, "POST", "/api/v1/executions/"+id+"/signals/approve", adminToken, map[string]any{"ok": true}).expectStatus(t, http.StatusOK)
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if all := strings.Join(got, "\n"); !strings.Contains(all, "event: execution_completed") {
		t.Fatalf("the stream ended without execution_completed:\n%s", all)
	}
}

// A request without a good token gets its 401 at once, whatever body it
// announces, and then loses its connection: the server neither waits for
// the body before answering nor reads it afterwards.
func TestRefusedBeforeTheBody(t *testing.T) {
	ts := bootServer(t, "", nil)
	for name, auth := range map[string]string{"wrong token": "Authorization: Bearer tok-guess\r\n", "no token": ""} {
		t.Run(name, func(t *testing.T) {
			conn := dialTCP(t, ts)
			fmt.Fprintf(conn, "POST /api/v1/workflows/echo/executions HTTP/1.1\r\nHost: weft\r\n%s"+
				"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"parameters\":", auth)
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(2 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is pending: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "UNAUTHENTICATED") {
				t.Fatalf("answered %d %s", resp.StatusCode, body)
			}
			if took > time.Second {
				t.Fatalf("the 401 took %s", took)
			}
			if !resp.Close {
				t.Error("the 401 does not say Connection: close")
			}
			closed := closedWithin(t, conn, br, 3*time.Second)
			t.Logf("401 after %s, connection closed %s later", took.Round(time.Millisecond), closed.Round(time.Millisecond))
		})
	}
}

// errorOf decodes an error body: its code and retryable.
func errorOf(t *testing.T, body []byte) (string, bool) {
	t.Helper()
	e := decode[httpErrorBody](t, body)
	if e.Error == nil || e.Error.Retryable == nil {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error.Code, *e.Error.Retryable
}

func expectRateLimited(t *testing.T, r httpResult) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d (%s), want 429", r.status, r.body)
	}
	if code, retryable := errorOf(t, r.body); code != "RATE_LIMITED" || !retryable {
		t.Fatalf("429 body %s, want RATE_LIMITED, retryable", r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
	}
}

// Wrong-token guesses count against the client's address: past its burst
// they get 429 RATE_LIMITED with Retry-After, however concurrent. Good
// tokens from the same address, health and readiness are not limited.
func TestWrongTokenGuessesLimitedPerAddress(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) {
		c.HTTP.RatePerIP, c.HTTP.BurstPerIP = 1, 5
		c.HTTP.RatePerToken = -1
	})
	releaseClientConns(t)
	const guesses = 40
	var mu sync.Mutex
	statuses := map[int]int{}
	var limited httpResult
	start := time.Now()
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			r := httpDo(t, ts, "GET", "/api/v1/workflows", fmt.Sprintf("tok-guess-%d", i), nil)
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == http.StatusTooManyRequests {
				limited = r
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	allowed := 5 + int(elapsed.Seconds()) + 1
	t.Logf("%d concurrent guesses in %s: %v", guesses, elapsed.Round(time.Millisecond), statuses)
	if statuses[http.StatusUnauthorized] > allowed || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != guesses {
		t.Fatalf("guesses answered %v, want at most %d 401 and the rest 429", statuses, allowed)
	}
	expectRateLimited(t, limited)

	// The address is limited, its good tokens are not.
	httpDo(t, ts, "GET", "/api/v1/workflows", adminToken, nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", "/healthz", "", nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", "/readyz", "", nil).expectStatus(t, http.StatusOK)
	sock := dial(t, ts, adminToken)
	if f := sock.call("p", "ping", nil); f.Error != nil {
		t.Fatalf("a good socket from the limited address: %+v", f)
	}
	// A wrong token on the socket upgrade, or a body, is limited too.
	_, resp, err := websocket.DefaultDialer.Dial(ts.url("/api/v1/socket?token=tok-guess-ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a wrong-token upgrade from the limited address: %v, %+v", err, resp)
	}
	expectRateLimited(t, httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", "tok-guess-post", map[string]any{"parameters": map[string]any{}}))
}

// Each token has its bucket: past it, 429 with Retry-After; another
// token is not affected.
func TestTokenRateLimited(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) {
		c.HTTP.RatePerToken, c.HTTP.BurstPerToken = 1, 5
	})
	for i := range 5 {
		if r := httpDo(t, ts, "GET", "/api/v1/workflows", adminToken, nil); r.status != http.StatusOK {
			t.Fatalf("request %d of the burst: %d %s", i+1, r.status, r.body)
		}
	}
	expectRateLimited(t, httpDo(t, ts, "GET", "/api/v1/workflows", adminToken, nil))
	httpDo(t, ts, "GET", "/api/v1/executions", readerToken, nil).expectStatus(t, http.StatusOK)
	// A limited start stores nothing.
	expectRateLimited(t, httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken, map[string]any{"parameters": map[string]any{"x": 1}}))
}

// The review's probe, with the default limits: a burst of wrong-token
// guesses and of good requests from one address both meet the limit
// (per address 50/s burst 100, per token 100/s burst 200).
func TestDefaultLimitsMeetABurst(t *testing.T) {
	ts := bootServer(t, "", nil)
	releaseClientConns(t)
	run := func(n int, token func(i int) string) (map[int]int, time.Duration) {
		statuses := map[int]int{}
		var mu sync.Mutex
		work := make(chan int)
		start := time.Now()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range work {
					r := httpDo(t, ts, "GET", "/api/v1/workflows", token(i), nil)
					mu.Lock()
					statuses[r.status]++
					mu.Unlock()
				}
			})
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		return statuses, time.Since(start)
	}
	guesses, took := run(300, func(i int) string { return fmt.Sprintf("tok-guess-%d", i) })
	t.Logf("300 wrong-token guesses in %s: %v", took.Round(time.Millisecond), guesses)
	if max401 := 100 + int(50*took.Seconds()) + 1; guesses[http.StatusUnauthorized] > max401 || guesses[http.StatusUnauthorized]+guesses[http.StatusTooManyRequests] != 300 {
		t.Fatalf("guesses answered %v, want at most %d 401 and the rest 429", guesses, max401)
	}
	good, took := run(400, func(int) string { return adminToken })
	t.Logf("400 good requests in %s: %v", took.Round(time.Millisecond), good)
	if max200 := 200 + int(100*took.Seconds()) + 1; good[http.StatusOK] > max200 || good[http.StatusOK]+good[http.StatusTooManyRequests] != 400 {
		t.Fatalf("good requests answered %v, want at most %d 200 and the rest 429", good, max200)
	}
}

// Failed authentications are logged with the remote address, never with
// the token, on the HTTP plane and at the socket upgrade.
func TestFailedAuthLoggedWithAddressNotToken(t *testing.T) {
	var logs logbuf.Buffer
	ts := bootServer(t, "", logTo(&logs))
	httpDo(t, ts, "GET", "/api/v1/workflows", "tok-guess-http-7f3a", nil).expectStatus(t, http.StatusUnauthorized)
	_, resp, err := websocket.DefaultDialer.Dial(ts.url("/api/v1/socket?token=tok-guess-ws-9c1e"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong-token upgrade: %v, %+v", err, resp)
	}
	out := logs.String()
	for _, tok := range []string{"tok-guess-http-7f3a", "tok-guess-ws-9c1e"} {
		if strings.Contains(out, tok) {
			t.Errorf("the logs hold a presented token %q:\n%s", tok, out)
		}
	}
	var httpLine, wsLine string
	for line := range strings.SplitSeq(out, "\n") {
		switch {
		case strings.Contains(line, `"authentication failed"`):
			httpLine = line
		case strings.Contains(line, `"connection rejected"`) && strings.Contains(line, "unauthenticated"):
			wsLine = line
		}
	}
	for name, line := range map[string]string{"HTTP": httpLine, "socket upgrade": wsLine} {
		if !strings.Contains(line, `"remote_addr":"127.0.0.1:`) {
			t.Errorf("%s: no failed-authentication line with the remote address in:\n%s", name, out)
		}
	}
}

// A JWT secret shorter than 32 bytes is refused at start.
func TestShortJWTSecretRefusedAtStart(t *testing.T) {
	_, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), JWTSecret: "test-secret", NoSync: true})
	if err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("a 11-byte JWT secret: %v, want a refusal naming 32 bytes", err)
	}
}

// A keys file its group or others can read is warned about at start and
// at every reload.
func TestKeysFileModeWarned(t *testing.T) {
	var logs logbuf.Buffer
	ts := bootServer(t, "", func(c *server.Config) {
		logTo(&logs)(c)
		if err := os.Chmod(c.KeysFile, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	warned := func() bool {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "chmod 600") {
				return true
			}
		}
		return false
	}
	if !warned() {
		t.Fatalf("no warning at start for a keys file of mode 0644:\n%s", logs.String())
	}
	for _, c := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}} {
		logs.Reset()
		if err := os.Chmod(ts.KeysFile(), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := ts.ReloadKeys(); err != nil {
			t.Fatal(err)
		}
		if warned() != c.warn {
			t.Fatalf("reload with mode %04o: warned %v, want %v:\n%s", c.mode, !c.warn, c.warn, logs.String())
		}
	}
}

func chatBotCount(t *testing.T, ts *testServer) int {
	t.Helper()
	r := httpDo(t, ts, "GET", "/api/v1/executions?workflow=chat-bot", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	return len(decode[struct {
		Items []execSnapshot `json:"items"`
	}](t, r.body).Items)
}

// A room message starts the workflows bound to the room only when its
// sender may start workflows: rooms:broadcast alone delivers the message
// and runs nothing. The review found such a token running chat-bot under
// a made-up workflows:start identity.
func TestRoomMessageStartsBoundWorkflowOnlyWithStartScope(t *testing.T) {
	ts := startServer(t, "")
	chatter, _ := dialWithID(t, ts, scopeToken(t, "acme", []weft.Scope{weft.ScopeRoomsJoin, weft.ScopeRoomsBroadcast}))
	listener, _ := dialWithID(t, ts, adminToken)
	joinRoom(t, chatter, "chat", false)
	joinRoom(t, listener, "chat", false)

	if f := chatter.call("b", "room.broadcast", map[string]any{"room": "chat", "message": map[string]string{"text": "hello bot"}}); f.Error != nil {
		t.Fatalf("broadcast: %+v", f.Error)
	}
	if p := listener.nextPush("room.message"); !strings.Contains(string(p.Message), "hello bot") {
		t.Fatalf("the member got %+v", p)
	}
	time.Sleep(300 * time.Millisecond)
	if n := chatBotCount(t, ts); n != 0 {
		t.Fatalf("a sender without workflows:start started %d chat-bot executions", n)
	}

	starter, _ := dialWithID(t, ts, scopeToken(t, "acme", []weft.Scope{weft.ScopeRoomsJoin, weft.ScopeRoomsBroadcast, weft.ScopeWorkflowsStart}))
	joinRoom(t, starter, "chat", false)
	if f := starter.call("b", "room.broadcast", map[string]any{"room": "chat", "message": map[string]string{"text": "hello again"}}); f.Error != nil {
		t.Fatalf("broadcast: %+v", f.Error)
	}
	deadline := time.Now().Add(5 * time.Second)
	for chatBotCount(t, ts) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a sender with workflows:start: %d chat-bot executions, want 1", chatBotCount(t, ts))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// execution.rerun that would stream the new execution (Follow) needs
// executions:read as well, and is refused before anything is stored.
func TestRerunChecksScopesBeforeStoring(t *testing.T) {
	ts := startServer(t, "")
	orig := httpStart(t, ts, adminToken, "echo", map[string]any{"x": 1})
	httpWaitStatus(t, ts, adminToken, orig, "completed")
	count := func() int {
		r := httpDo(t, ts, "GET", "/api/v1/executions", adminToken, nil)
		r.expectStatus(t, http.StatusOK)
		return len(decode[struct {
			Items []execSnapshot `json:"items"`
		}](t, r.body).Items)
	}
	before := count()
	startOnly := weft.Identity{Name: "walker", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeWorkflowsStart}}
	_, err := ts.Service().Rerun(context.Background(), startOnly, actors.RerunRequest{ExecutionID: orig, FromStep: 1, Follow: true})
	if weft.ErrorCode(err) != weft.CodeForbidden {
		t.Fatalf("a following rerun without executions:read: %v, want FORBIDDEN", err)
	}
	if n := count(); n != before {
		t.Fatalf("the refused rerun stored an execution (%d, was %d)", n, before)
	}
	noStart := weft.Identity{Name: "walker", Workspace: "acme", Scopes: []weft.Scope{weft.ScopeExecutionsRead}}
	if _, err := ts.Service().Rerun(context.Background(), noStart, actors.RerunRequest{ExecutionID: orig, FromStep: 1, Follow: true}); weft.ErrorCode(err) != weft.CodeForbidden {
		t.Fatalf("a rerun without workflows:start: %v, want FORBIDDEN", err)
	}
	res, err := ts.Service().Rerun(context.Background(), startOnly, actors.RerunRequest{ExecutionID: orig, FromStep: 1})
	if err != nil || res.ExecutionID == "" {
		t.Fatalf("a rerun that does not follow, with workflows:start: %+v, %v", res, err)
	}
}
