package ws

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/metrics"
	"github.com/weft-run/weft/transport/auth"
)

// Messages of connActor, besides the pumps'.
type (
	// outbound is a frame produced by a request goroutine. final ends the
	// request id: it leaves the in-flight set.
	outbound struct {
		id    string
		slot  uint64
		frame []byte
		final bool
	}
	authDeadline struct{}
	// slowConsumer: a request could not queue its frames in time.
	slowConsumer struct{}
	// requestAnswered: a request sent its first frame (a stream's
	// acknowledgement). requestEnded: its goroutine returned.
	requestAnswered struct{ slot uint64 }
	requestEnded    struct{ slot uint64 }
	// abuseDeadline: the answers an abusive client was owed took too long.
	abuseDeadline struct{}
)

// connActor owns one socket's state. Only it enqueues frames for the write
// pump; only the read pump reads.
type connActor struct {
	id     string
	sock   *websocket.Conn
	svc    *actors.Service
	auth   *auth.Authenticator
	cfg    Config
	log    connLog
	who    *weft.Identity // nil until authenticated
	since  time.Time
	root   *actor.RootContext
	self   *actor.PID
	ctx    context.Context // cancelled when the actor stops
	cancel context.CancelFunc

	server       *Server
	outbox       *outbox
	heartbeat    *time.Timer
	closed       bool          // a close has been requested or the peer is gone
	closeCode    int           // how the socket was closed, for metrics
	unregistered bool          // taken out of the registry and its rooms
	held         slot          // the admission slots this socket holds
	from         actors.Origin // where its requests come from, for the audit
	inflight     map[string]context.CancelFunc
	limiter      *rate.Limiter
	limitedSince time.Time // first refused frame of the current run over the rate
	lastLimited  time.Time // latest refused frame

	// Requests in flight, by slot: running counts their goroutines (the
	// in-flight quota); unanswered holds those that have sent nothing yet,
	// which a close for abuse waits for (a close never swallows an
	// acknowledgement).
	nextSlot   uint64
	running    int
	unanswered map[uint64]struct{}
	abusing    bool // over the rate for AbuseAfter: closing once answered
}

func newConnActor(s *Server, sock *websocket.Conn, who *weft.Identity, held slot, from actors.Origin, compressed bool) *connActor {
	id := weft.NewID("ws_")
	out := newOutbox(sock, s.cfg)
	out.allowInline(compressed)
	out.onWritten = func(n int) {
		s.metrics.MessagesSent.Add(float64(n))
		s.svc.Lifecycle(events.TopicMessageSent, func() any { return map[string]any{"connection_id": id, "frames": n} })
	}
	c := &connActor{
		server: s,
		held:   held,
		from:   from,
		id:     id,
		sock:   sock,
		svc:    s.svc,
		auth:   s.auth,
		cfg:    s.cfg,
		who:    who,
		since:  time.Now().UTC(),
		root:   s.sys.Root(),
		outbox: out,
		// inflight, unanswered and limiter are made by the first request
		// or frame: an idle connection holds none of them.
	}
	c.log = connLog{c}
	return c
}

func (c *connActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.started(ctx)
	case *frameReceived:
		c.server.metrics.MessagesReceived.Inc()
		c.svc.Lifecycle(events.TopicMessageReceived, func() any { return map[string]any{"connection_id": c.id, "bytes": len(msg.data)} })
		c.received(msg.data)
	case *outbound:
		if msg.final {
			if cancel, ok := c.inflight[msg.id]; ok {
				cancel()
				delete(c.inflight, msg.id)
			}
		}
		c.enqueue(msg.frame)
		c.answered(msg.slot)
	case *requestAnswered:
		c.answered(msg.slot)
	case *requestEnded:
		c.running--
		c.answered(msg.slot)
	case *abuseDeadline:
		c.closeWith(closePolicy, "rate limit exceeded", true)
	case *binaryFrame:
		c.enqueue(encodeError("", weft.Errorf(weft.CodeInvalidRequest, "binary frames are not accepted: send JSON in text frames")))
	case *invalidUTF8:
		c.closeWith(closeInvalidPayload, "text frame is not valid UTF-8", true)
	case *actors.Deliver:
		c.enqueue(msg.Frame)
	case *actors.Disconnect:
		c.closeWith(msg.Code, msg.Reason, true)
	case *slowConsumer:
		c.log.Warn().Msg("slow consumer: closing")
		c.closeWith(closeTryAgainLater, "slow consumer", false)
	case *frameTooLarge:
		c.enqueue(encodeError("", weft.Errorf(weft.CodeMessageTooLarge, "frame larger than %d bytes", c.cfg.MaxMessageBytes)))
		c.closeWith(closeTooBig, "message too big", true)
	case *authDeadline:
		if c.who == nil {
			c.closeWith(closeUnauthenticated, "authentication timeout", false)
		}
	case *socketClosed:
		if !c.closed {
			c.closed, c.closeCode = true, closeCodeOf(msg.err)
		}
		c.unregister()
		c.outbox.abort()
		ctx.Stop(c.self)
	case *actor.Stopping:
		c.closeWith(closeGoingAway, "server shutting down", true)
		c.heartbeat.Stop()
		c.cancel()
	case *actor.Stopped:
		c.unregister()
		c.server.admit.leave(c.held)
		c.server.metrics.ConnectionsActive.Dec()
		c.server.metrics.Disconnects.WithLabelValues(metrics.CloseCode(c.closeCode)).Inc()
		c.log.Info().Int("code", c.closeCode).Msg("connection closed")
	}
}

func (c *connActor) started(ctx actor.Context) {
	c.self = ctx.Self()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.heartbeat = time.AfterFunc(c.cfg.HeartbeatInterval, c.beat)
	startReader(c.sock, c.root, c.self, c.cfg, c.outbox)
	if c.who != nil {
		c.sendConnected()
		return
	}
	root, self := c.root, c.self
	time.AfterFunc(c.cfg.AuthTimeout, func() { root.Send(self, &authDeadline{}) })
}

// received handles one client frame.
func (c *connActor) received(data []byte) {
	if c.closed || c.abusing {
		return
	}
	f, err := decodeFrame(data)
	if !c.allow(f.ID) {
		return
	}
	if c.who == nil {
		c.authenticate(f, err)
		return
	}
	if err != nil {
		var fe *frameError
		id := ""
		if errors.As(err, &fe) {
			id = fe.id
		}
		c.enqueue(encodeError(id, err))
		return
	}
	switch f.Kind {
	case kindPing:
		c.enqueue(encodePush("pong", map[string]string{"timestamp": time.Now().UTC().Format(time.RFC3339Nano)}))
	case kindAuth:
		c.enqueue(encodeError("", weft.Errorf(weft.CodeInvalidRequest, "already authenticated")))
	case kindRequest, kindShorthand:
		c.dispatch(f)
	}
}

// allow applies the per-connection token bucket. A frame over the rate is
// answered RATE_LIMITED (a burst gets as many answers as the bucket holds,
// and RATE_LIMITED for the rest). A client that stays over the rate for
// AbuseAfter is abusive: it is closed with 1008. It stays over the rate
// while frames keep being refused with no second free of refusals; the
// frames the bucket lets through meanwhile do not count as a return under
// the rate.
func (c *connActor) allow(requestID string) bool {
	if c.limiter == nil {
		// Made by the first frame, full: what it would hold had it been
		// made with the connection.
		c.limiter = rate.NewLimiter(rate.Limit(c.cfg.MessagesPerSecond), int(c.cfg.MessagesPerSecond))
	}
	if c.limiter.Allow() {
		return true
	}
	now := time.Now()
	if c.lastLimited.IsZero() || now.Sub(c.lastLimited) > time.Second {
		c.limitedSince = now // a new run over the rate
	}
	c.lastLimited = now
	if now.Sub(c.limitedSince) >= c.cfg.AbuseAfter {
		c.abuse()
		return false
	}
	limited := weft.Errorf(weft.CodeRateLimited, "more than %g messages per second", c.cfg.MessagesPerSecond)
	c.enqueue(encodeError(requestID, limited))
	c.auditRateLimited(limited) // audit.go
	return false
}

// abuse closes an abusive client with 1008, but only once every request
// already accepted has sent its answer: a close never swallows an
// acknowledgement (a start that was accepted is an execution the client
// must learn about). Meanwhile its frames are dropped; answers that do not
// come within the write timeout are not waited for.
func (c *connActor) abuse() {
	if c.abusing {
		return
	}
	c.abusing = true
	c.log.Warn().Int("unanswered", len(c.unanswered)).Msg("over the rate limit for too long: closing")
	if len(c.unanswered) == 0 {
		c.closeWith(closePolicy, "rate limit exceeded", true)
		return
	}
	root, self := c.root, c.self
	time.AfterFunc(c.cfg.WriteTimeout, func() { root.Send(self, &abuseDeadline{}) })
}

// answered notes that a request has sent its first frame (or ended).
func (c *connActor) answered(slot uint64) {
	delete(c.unanswered, slot)
	if c.abusing && len(c.unanswered) == 0 {
		c.closeWith(closePolicy, "rate limit exceeded", true)
	}
}

// authenticate handles the first frame of a socket upgraded without
// credentials: it must be {"type":"auth","token":...}.
func (c *connActor) authenticate(f clientFrame, decodeErr error) {
	if decodeErr != nil || f.Kind != kindAuth {
		c.refuseAuth(weft.Errorf(weft.CodeUnauthenticated, "first frame must be {\"type\":\"auth\",\"token\":...}"))
		return
	}
	who, err := c.auth.Authenticate(f.Token)
	if err != nil {
		c.refuseAuth(err)
		return
	}
	if !c.server.admit.admitWorkspace(&c.held, who.Workspace) {
		c.server.metrics.ConnectionsRejected.WithLabelValues("max_connections_per_workspace").Inc()
		c.enqueue(encodeError("", weft.Errorf(weft.CodeMaxConnectionsReached, "connection limit of workspace %q reached", who.Workspace)))
		c.closeWith(closeTryAgainLater, "too many connections", true)
		return
	}
	c.who = &who
	c.sendConnected()
}

// refuseAuth answers a failed in-band authentication and closes with 4001.
// It is logged with the remote address, never with the token. A token
// naming a known identity (auth.RefusedIdentity) leaves a sampled audit
// record, as at the upgrade.
func (c *connActor) refuseAuth(err error) {
	if who, ok := auth.RefusedIdentity(err); ok {
		c.svc.AuditRefusal(c.requestContext(), who, "authenticate", err)
	}
	c.log.Info().Str("remote_addr", c.from.RemoteAddr).Str("reason", string(weft.ErrorCode(err))).Msg("in-band authentication failed")
	c.enqueue(mustJSON(struct {
		Type  string    `json:"type"`
		Error errorBody `json:"error"`
	}{"auth_error", errorBodyOf(err)}))
	c.closeWith(closeUnauthenticated, "unauthenticated", true)
}

// push queues a frame from another actor (a room) straight on the outbox,
// or writes it there and then when the outbox is idle (see outbox); safe
// from any goroutine, never blocks. The frame is shared by every member it
// goes to: the first push frames it once for all of them (its bytes, for
// inline writes, and a PreparedMessage, which compresses once for the
// sockets that negotiated it). A full outbox closes the connection (1013)
// through the actor.
func (c *connActor) push(f *actors.Frame) {
	sf, _ := f.Prepared(prepareFrame).(*sharedFrame)
	var ok bool
	if sf != nil {
		ok = c.outbox.pushShared(sf)
	} else {
		ok = c.outbox.push(f.Data)
	}
	if !ok {
		c.root.Send(c.self, &slowConsumer{})
	}
}

// prepareFrame frames a shared frame once (nil if gorilla refused: the
// frame is then queued as is).
func prepareFrame(data []byte) any {
	if sf := newSharedFrame(data); sf != nil {
		return sf
	}
	return nil
}

// ref is how the service knows this connection.
func (c *connActor) ref() actors.ConnRef {
	return actors.ConnRef{ID: c.id, Identity: *c.who, PID: c.self, ConnectedAt: c.since, Push: c.push}
}

func (c *connActor) sendConnected() {
	c.svc.ConnectionOpened(c.ref())
	c.log.Info().Msg("connection opened")
	c.enqueue(encodePush("connected", map[string]any{
		"connection_id":         c.id,
		"identity":              c.who.Name,
		"workspace":             c.who.Workspace,
		"scopes":                c.who.Scopes,
		"heartbeat_interval_ms": c.cfg.HeartbeatInterval.Milliseconds(),
		"limits": map[string]any{
			"max_message_bytes":   c.cfg.MaxMessageBytes,
			"messages_per_second": c.cfg.MessagesPerSecond,
		},
	}))
}

// enqueue hands a frame to the writer without ever blocking the actor. A
// full outbox means the client cannot keep up: it is closed with 1013
// (nothing is lost: it resubscribes with after_seq).
func (c *connActor) enqueue(frame []byte) {
	if c.closed {
		return
	}
	if !c.outbox.push(frame) {
		c.log.Warn().Msg("slow consumer: closing")
		c.closeWith(closeTryAgainLater, "slow consumer", false)
	}
}

// unregister takes a closing connection out of the registry and its rooms,
// once: from then on it is not found, even while its close handshake runs.
func (c *connActor) unregister() {
	if c.who == nil || c.unregistered {
		return
	}
	c.unregistered = true
	c.svc.ConnectionClosed(c.ref(), c.closeCode)
}

// closeWith asks the writer to close the socket, once.
func (c *connActor) closeWith(code int, reason string, flush bool) {
	if c.closed {
		return
	}
	c.closed, c.closeCode = true, code
	defer c.unregister()
	c.outbox.close(closeRequest{code: code, reason: reason, flush: flush})
}

// beat sends a heartbeat ping from the timer's goroutine (WriteControl is
// safe beside the writer) and re-arms itself until the socket closes.
func (c *connActor) beat() {
	select {
	case <-c.outbox.closed:
		return
	default:
	}
	if err := c.outbox.ping(); err != nil {
		return
	}
	c.heartbeat.Reset(c.cfg.HeartbeatInterval)
}
