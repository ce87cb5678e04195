package ws

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/metrics"
	"github.com/weft-run/weft/transport/auth"
)

// Server upgrades HTTP requests to weft sockets. Mount it at
// /api/v1/socket and /ws.
type Server struct {
	sys      *actors.System
	svc      *actors.Service
	auth     *auth.Authenticator
	cfg      Config
	log      zerolog.Logger
	metrics  *metrics.Metrics
	admit    *admission
	upgrader websocket.Upgrader
}

// NewServer returns the WebSocket adapter over the service.
func NewServer(sys *actors.System, svc *actors.Service, a *auth.Authenticator, cfg Config, m *metrics.Metrics, log zerolog.Logger) *Server {
	cfg = cfg.WithDefaults()
	return &Server{
		sys:     sys,
		svc:     svc,
		auth:    a,
		cfg:     cfg,
		log:     log.With().Str("component", "ws").Logger(),
		metrics: m,
		admit:   newAdmission(cfg),
		upgrader: websocket.Upgrader{
			// A read buffer of 256 bytes instead of the HTTP server's
			// 4 KiB one, held by every socket, idle or not: enough for a
			// frame header and a small frame; the payload of a larger one
			// is read past it, straight into the read pump's pooled buffer.
			// Write buffers come from a pool only while a frame is
			// written, so an idle connection holds none.
			ReadBufferSize:    256,
			WriteBufferPool:   &sync.Pool{},
			CheckOrigin:       originChecker(cfg.AllowedOrigins),
			EnableCompression: !cfg.DisableCompression,
		},
	}
}

// originChecker allows requests without Origin (not from a browser), and
// browser origins per the configured list (empty: same origin only).
func originChecker(allowed []string) func(*http.Request) bool {
	if slices.Contains(allowed, "*") {
		return func(*http.Request) bool { return true }
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		if len(allowed) == 0 {
			return strings.EqualFold(u.Host, r.Host)
		}
		return slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(strings.TrimSuffix(a, "/"), origin) })
	}
}

// Config returns the effective limits.
func (s *Server) Config() Config { return s.cfg }

// ServeHTTP authenticates credentials presented at upgrade (refusing wrong
// ones with HTTP 401 before upgrading), upgrades, and spawns the
// connection's actor. Without credentials the upgrade is accepted and the
// first frame must authenticate.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var who *weft.Identity
	workspace := ""
	if creds, ok := auth.FromRequest(r); ok {
		id, err := s.auth.Authenticate(creds.Token)
		if err != nil {
			s.auditUnauthenticated(r, err)
			s.reject(w, r, http.StatusUnauthorized, "unauthenticated", err)
			return
		}
		who, workspace = &id, id.Workspace
	}
	if !s.upgrader.CheckOrigin(r) {
		s.reject(w, r, http.StatusForbidden, "origin", weft.Errorf(weft.CodeForbidden, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	held := slot{ip: actors.AddressKey(r.RemoteAddr), workspace: workspace}
	if limit := s.admit.admit(held); limit != "" {
		s.reject(w, r, http.StatusServiceUnavailable, limit, weft.Errorf(weft.CodeMaxConnectionsReached, "connection limit reached (%s)", limit))
		return
	}
	header := http.Header{}
	if proto := auth.SelectSubprotocol(r); proto != "" {
		header.Set("Sec-WebSocket-Protocol", proto)
	}
	sock, err := s.upgrader.Upgrade(w, r, header)
	if err != nil {
		s.admit.leave(held)
		s.metrics.ConnectionsRejected.WithLabelValues("handshake").Inc()
		return // the upgrader has answered the client
	}
	s.metrics.ConnectionsOpened.Inc()
	s.metrics.ConnectionsActive.Inc()
	c := newConnActor(s, sock, who, held, upgradeOrigin(r), s.upgrader.EnableCompression && offersDeflate(r))
	props := actor.PropsFromProducer(func() actor.Actor { return c })
	if _, err := s.sys.SpawnConnection(props, c.id); err != nil {
		s.log.Error().Err(err).Msg("spawn connection actor")
		s.admit.leave(held)
		s.metrics.ConnectionsActive.Dec()
		_ = sock.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTryAgainLater, "server busy"), deadlineSoon())
		_ = sock.Close()
	}
}

// offersDeflate reports whether the client offered permessage-deflate
// (which the upgrader then negotiates, when compression is enabled).
func offersDeflate(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Extensions") {
		if strings.Contains(strings.ToLower(v), "permessage-deflate") {
			return true
		}
	}
	return false
}

// connLog is a connection's logger: the server's, with the connection's
// fields (its id, and its identity once authenticated) added to each event
// instead of kept in a zerolog context of its own, which would cost every
// socket a buffer of about 0.5 KiB.
type connLog struct{ c *connActor }

func (l connLog) Debug() *zerolog.Event { return l.fields(l.c.server.log.Debug()) }
func (l connLog) Info() *zerolog.Event  { return l.fields(l.c.server.log.Info()) }
func (l connLog) Warn() *zerolog.Event  { return l.fields(l.c.server.log.Warn()) }
func (l connLog) Error() *zerolog.Event { return l.fields(l.c.server.log.Error()) }

func (l connLog) fields(e *zerolog.Event) *zerolog.Event {
	if e == nil { // the level is off
		return nil
	}
	e = e.Str("connection_id", l.c.id)
	if who := l.c.who; who != nil {
		e = e.Str("identity", who.Name).Str("workspace", who.Workspace)
	}
	return e
}

// auditUnauthenticated records an upgrade refused UNAUTHENTICATED when the
// token named a known identity (a JWT with a good signature, expired or not
// valid yet: auth.RefusedIdentity), sampled like RATE_LIMITED. Unknown
// tokens are not recorded.
func (s *Server) auditUnauthenticated(r *http.Request, err error) {
	who, ok := auth.RefusedIdentity(err)
	if !ok {
		return
	}
	s.svc.AuditRefusal(actors.WithOrigin(r.Context(), upgradeOrigin(r)), who, "authenticate", err)
}

// reject refuses an upgrade with an HTTP status, counted by reason.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, reason string, err error) {
	s.metrics.ConnectionsRejected.WithLabelValues(reason).Inc()
	s.svc.Lifecycle(events.TopicConnectionRejected, func() any { return map[string]any{"reason": reason, "remote": r.RemoteAddr} })
	s.log.Info().Str("reason", reason).Str("remote_addr", r.RemoteAddr).Err(err).Msg("connection rejected")
	writeHTTPError(w, status, err)
}

// writeHTTPError writes the protocol's HTTP error body.
func writeHTTPError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": errorBodyOf(err)})
}
