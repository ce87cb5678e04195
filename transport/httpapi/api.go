package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/transport/auth"
	"github.com/weft-run/weft/transport/httpapi/spec"
)

// Config bounds the HTTP plane. Zero values take the defaults noted.
type Config struct {
	// MaxBodyBytes bounds a request body (default 65,536, the socket's
	// max_message_bytes); larger is 413 WS_MESSAGE_TOO_LARGE.
	MaxBodyBytes int
	// WriteTimeout bounds each write of an event stream to a client that
	// stopped reading (default 10 s); the stream then ends.
	WriteTimeout time.Duration
	// Heartbeat is the interval of the SSE comment lines that keep an idle
	// stream open through proxies (default 15 s).
	Heartbeat time.Duration

	// The http.Server bounds (see ServerConfig). ReadTimeout bounds
	// reading one request, headers and body (default 30 s); event streams
	// lift it once their request is read, and upgraded sockets manage their
	// own deadlines.
	ReadTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (default 5 s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request (default 30 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block (default 32 KiB;
	// tokens are at most 8 KiB).
	MaxHeaderBytes int

	// RatePerToken and BurstPerToken are the token bucket of each token:
	// requests per second and the burst above it (default 100/s, burst
	// 200; a negative rate: no limit). Over it: 429 RATE_LIMITED with
	// Retry-After.
	RatePerToken  float64
	BurstPerToken int
	// RatePerIP and BurstPerIP are the token bucket of each client address
	// (IPv6: its /64) for requests that do not authenticate: missing or
	// wrong tokens, failed socket upgrades, documents, unknown routes
	// (default 50/s, burst 100; a negative rate: no limit). An address over
	// it gets 429 for every request, good token or not, until it refills.
	// /healthz, /readyz and /metrics are not limited (a refused metrics
	// token counts).
	RatePerIP  float64
	BurstPerIP int
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 65536
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.RatePerToken == 0 {
		c.RatePerToken = 100
	}
	if c.BurstPerToken <= 0 {
		c.BurstPerToken = max(200, int(c.RatePerToken))
	}
	if c.RatePerIP == 0 {
		c.RatePerIP = 50
	}
	if c.BurstPerIP <= 0 {
		c.BurstPerIP = max(100, int(c.RatePerIP))
	}
	return c
}

// ServerConfig sets the bounds of Config on srv: ReadTimeout,
// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes.
func (c Config) ServerConfig(srv *http.Server) {
	c = c.WithDefaults()
	srv.ReadTimeout = c.ReadTimeout
	srv.ReadHeaderTimeout = c.ReadHeaderTimeout
	srv.IdleTimeout = c.IdleTimeout
	srv.MaxHeaderBytes = c.MaxHeaderBytes
}

// API serves the resource plane over an actors.Service.
type API struct {
	svc  *actors.Service
	auth *auth.Authenticator
	cfg  Config
	log  zerolog.Logger

	done     chan struct{} // closed by Shutdown: open event streams end
	doneOnce sync.Once

	tokens *limiterSet // per token; nil: no limit
	ips    *limiterSet // per client address, unauthenticated requests; nil: no limit
}

// New returns the HTTP adapter of svc, authenticating with a.
func New(svc *actors.Service, a *auth.Authenticator, cfg Config, log zerolog.Logger) *API {
	cfg = cfg.WithDefaults()
	return &API{
		svc:    svc,
		auth:   a,
		cfg:    cfg,
		log:    log.With().Str("component", "http").Logger(),
		done:   make(chan struct{}),
		tokens: newLimiterSet(cfg.RatePerToken, cfg.BurstPerToken),
		ips:    newLimiterSet(cfg.RatePerIP, cfg.BurstPerIP),
	}
}

// Config returns the effective configuration (defaults filled).
func (a *API) Config() Config { return a.cfg }

// Shutdown ends every open SSE stream (clients resume with Last-Event-ID),
// so that http.Server.Shutdown does not wait for streams that follow
// executions which may run for days. Register it with
// http.Server.RegisterOnShutdown. It is idempotent.
func (a *API) Shutdown() { a.doneOnce.Do(func() { close(a.done) }) }

// Register mounts the resource plane's routes and its documents on m.
func (a *API) Register(m *Mux) {
	m.Handle("GET", "/api/v1/workflows", "workflow.list", a.authed(a.listWorkflows))
	m.Handle("POST", "/api/v1/workflows/{name}/executions", "workflow.start", a.authed(a.startExecution))
	m.Handle("GET", "/api/v1/workflows/{name}/stats", "workflow.stats", a.authed(a.workflowStats)) // stats.go
	m.Handle("GET", "/api/v1/executions", "executions.list", a.authed(a.listExecutions))
	m.Handle("GET", "/api/v1/executions/{id}", "execution.get", a.authed(a.getExecution))
	m.Handle("DELETE", "/api/v1/executions/{id}", "execution.delete", a.authed(a.deleteExecution))
	m.Handle("GET", "/api/v1/executions/{id}/events", "execution.subscribe", a.authed(a.executionEvents))
	m.Handle("POST", "/api/v1/executions/{id}/cancel", "execution.cancel", a.authed(a.cancelExecution))
	m.Handle("POST", "/api/v1/executions/{id}/signals/{name}", "execution.signal", a.authed(a.signalExecution))
	m.Handle("GET", "/api/v1/executions/{id}/export", "", a.authed(a.exportExecution))
	m.Handle("POST", "/api/v1/import", "", a.authed(a.importExecutions))
	m.Handle("POST", "/api/v1/rooms/{room}/broadcast", "room.broadcast", a.authed(a.broadcast))
	m.Handle("GET", "/api/v1/connections", "connections.list", a.authed(a.listConnections))
	m.Handle("GET", "/api/v1/audit", "audit.list", a.authed(a.listAudit)) // audit.go
	m.Handle("GET", "/api/v1/schedules", "schedule.list", a.authed(a.listSchedules))
	m.Handle("POST", "/api/v1/schedules", "schedule.create", a.authed(a.createSchedule))
	m.Handle("GET", "/api/v1/schedules/{id}", "schedule.get", a.authed(scheduleCall(a, (*actors.Service).GetSchedule)))
	m.Handle("DELETE", "/api/v1/schedules/{id}", "schedule.delete", a.authed(scheduleCall(a, (*actors.Service).DeleteSchedule)))
	m.Handle("POST", "/api/v1/schedules/{id}/pause", "schedule.pause", a.authed(scheduleCall(a, (*actors.Service).PauseSchedule)))
	m.Handle("POST", "/api/v1/schedules/{id}/resume", "schedule.resume", a.authed(scheduleCall(a, (*actors.Service).ResumeSchedule)))
	m.Handle("POST", "/api/v1/schedules/{id}/trigger", "schedule.trigger", a.authed(scheduleCall(a, (*actors.Service).TriggerSchedule)))
	a.addArtifactRoutes(m) // artifacts.go

	m.Handle("GET", "/api/v1/openapi.yaml", "", document("application/yaml", spec.OpenAPIYAML))
	m.Handle("GET", "/api/v1/openapi.json", "", document("application/json", spec.OpenAPIJSON()))
	m.Handle("GET", "/api/v1/asyncapi.yaml", "", document("application/yaml", spec.AsyncAPIYAML))
}

// document serves an embedded document (no token: it describes the API,
// it holds no data).
func document(contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	})
}

// handler serves one authenticated route. An error it returns is answered
// with its status; a handler that has started its answer handles its own
// errors and returns nil.
type handler func(w http.ResponseWriter, r *http.Request, who weft.Identity) error

// authed resolves the bearer token and charges its rate limit before
// anything reads the body, then runs h. A refusal is answered at once: a
// slow or large body is not waited for (see refuse).
func (a *API) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, who, err := a.identify(r)
		if err != nil {
			a.log.Info().Err(err).Str("remote_addr", r.RemoteAddr).Str("method", r.Method).
				Str("path", r.URL.Path).Msg("authentication failed")
			a.auditUnauthenticated(r, err) // audit.go
			a.refuse(w, r, err)
			return
		}
		if err := a.allowToken(w, token); err != nil {
			a.log.Debug().Str("identity", who.Name).Str("workspace", who.Workspace).Str("remote_addr", r.RemoteAddr).
				Str("path", r.URL.Path).Msg("token over its rate limit")
			a.auditRefusal(r, who, err) // audit.go
			a.refuse(w, r, err)
			return
		}
		r = withOrigin(r) // audit.go: the Service records mutations with it
		if err := h(w, r, who); err != nil {
			a.fail(w, r, err)
		}
	})
}

// identify takes the token from Authorization: Bearer only (PROTOCOL
// section 8): ?token= and the subprotocol are socket-upgrade conveniences.
// Guard may have authenticated it already.
func (a *API) identify(r *http.Request) (string, weft.Identity, error) {
	creds, ok := auth.FromRequest(r)
	if !ok || creds.Method != auth.MethodBearer {
		return "", weft.Identity{}, weft.Errorf(weft.CodeUnauthenticated, "missing token: send Authorization: Bearer <token>")
	}
	if st, ok := r.Context().Value(guardKey{}).(*guardState); ok && st.checked && st.token == creds.Token {
		return st.token, st.who, st.err
	}
	who, err := a.auth.Authenticate(creds.Token)
	return creds.Token, who, err
}

// fail answers err, logging the ones that are bugs.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if weft.ErrorCode(err) == weft.CodeInternal {
		a.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("request failed")
	}
	WriteError(w, err)
}

// readBody reads a bounded request body. Empty is nil (the caller decides
// what absent means); over the bound is WS_MESSAGE_TOO_LARGE.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.cfg.MaxBodyBytes)))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, weft.Errorf(weft.CodeMessageTooLarge, "request body larger than %d bytes", a.cfg.MaxBodyBytes)
	case err != nil:
		return nil, weft.Errorf(weft.CodeInvalidRequest, "read request body: %v", err)
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil, nil
	}
	return data, nil
}

// decodeObject reads a bounded body holding a JSON object into v; an empty
// body leaves v as it is.
func (a *API) decodeObject(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := a.readBody(w, r)
	if err != nil || data == nil {
		return err
	}
	if !json.Valid(data) {
		return weft.Errorf(weft.CodeInvalidRequest, "request body is not valid JSON")
	}
	if strings.TrimSpace(string(data))[0] != '{' {
		return weft.Errorf(weft.CodeInvalidRequest, "request body must be a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return weft.Errorf(weft.CodeInvalidRequest, "request body: %v", err)
	}
	return nil
}
