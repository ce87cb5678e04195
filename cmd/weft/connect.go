package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-run/weft/client"
)

// Every command that talks to a server does it through the Go client
// (package client): one connection per command, with the CLI's User-Agent
// (the audit records such requests with transport "cli").

// defaultServer is --server when neither it nor WEFT_SERVER is given.
const defaultServer = "http://127.0.0.1:8080"

// serverUsage is --server's help line in every command.
const serverUsage = "weft server: http[s]://host:port, ws[s]://host:port/api/v1/socket or host:port (README \"Server address\")"

// serverAddress reads --server with the one address parser the Go client
// uses too; a bad address is a usage error saying why.
func serverAddress(server string) (client.Address, error) {
	a, err := client.ParseAddress(server)
	if err != nil {
		var e *client.Error
		if errors.As(err, &e) {
			return client.Address{}, usageError{"--server: " + e.Message}
		}
		return client.Address{}, usageError{"--server: " + err.Error()}
	}
	return a, nil
}

// connect dials --server for a command that sends its requests and ends:
// a dropped connection fails the command rather than being dialled again.
func (t *target) connect(ctx context.Context) (*client.Client, error) {
	return t.dial(ctx, client.Options{Reconnect: client.ReconnectPolicy{Disabled: true}})
}

// call is connect, one request, and close.
func (t *target) call(ctx context.Context, service string, req, out any) error {
	c, err := t.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Call(ctx, service, req, out)
}

// followReconnect is how a command that follows an execution (start,
// rerun, tail) dials again after a drop: from 250 ms, doubling to 5 s,
// until the server answers or refuses the token.
var followReconnect = client.ReconnectPolicy{Base: 250 * time.Millisecond, Max: 5 * time.Second}

// following is a connection that follows one execution across drops: the
// client resubscribes after the last event it received, so the output
// has no gap and no repeat. Each drop is said on stderr.
type following struct {
	*client.Client
	exec atomic.Pointer[client.Execution] // the execution followed, once known
}

// follow dials --server for a command that follows an execution. The
// client's callback writes to stderr from its own goroutine: from here on
// t.stderr is shared under a lock.
func (t *target) follow(ctx context.Context) (*following, error) {
	t.stderr = &lockedWriter{w: t.stderr}
	f := &following{}
	var err error
	f.Client, err = t.dial(ctx, client.Options{Reconnect: followReconnect, OnStateChange: func(s client.State, err error) {
		if s != client.StateReconnecting {
			return
		}
		var seq uint64
		if e := f.exec.Load(); e != nil {
			seq = e.LastSeq()
		}
		fmt.Fprintf(t.stderr, "weft: connection lost (%v); resuming after seq %d\n", err, seq)
	}})
	return f, err
}

// dial connects to --server with the token (or the local keys file's),
// the CLI's User-Agent and opts' reconnect settings.
func (t *target) dial(ctx context.Context, opts client.Options) (*client.Client, error) {
	addr, err := t.resolve()
	if err != nil {
		return nil, err
	}
	opts.Token, opts.UserAgent = t.token, userAgent()
	c, err := client.Dial(ctx, addr.String(), opts)
	if err != nil {
		return nil, explainDial(addr.String(), fmt.Errorf("connect to %s: %w", addr, err))
	}
	return c, nil
}

// resolve settles the token (--token, WEFT_TOKEN or the local keys file's)
// and parses --server: what every command needs before it talks to a
// server, over the socket or HTTP.
func (t *target) resolve() (client.Address, error) {
	t.token = defaultToken(t.token, t.stderr)
	if t.token == "" {
		return client.Address{}, errNoToken
	}
	return serverAddress(t.server)
}

// lockedWriter serialises the writes of several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// paceShare is the part of the server's per-connection rate a command's
// loop uses, leaving room for the client's pings and for other bursts.
const paceShare = 0.8

// pacer spaces the requests of a loop over one connection (rm of many
// executions, replay-check's downloads) under the rate the server holds
// every connection to, so none is refused RATE_LIMITED.
type pacer struct {
	every time.Duration
	next  time.Time
}

// newPacer paces under perSecond frames a second (0: no pacing).
func newPacer(perSecond float64) *pacer {
	if perSecond <= 0 {
		return &pacer{}
	}
	return &pacer{every: time.Duration(float64(time.Second) / (perSecond * paceShare))}
}

// pacerFor paces under the limit c's server announced.
func pacerFor(c *client.Client) *pacer { return newPacer(c.Info().Limits.MessagesPerSecond) }

// wait returns when the next request may go.
func (p *pacer) wait(ctx context.Context) error {
	if p.every <= 0 {
		return ctx.Err()
	}
	now := time.Now()
	if p.next.After(now) {
		t := time.NewTimer(p.next.Sub(now))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		now = p.next
	}
	p.next = now.Add(p.every)
	return nil
}
