package client

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// AuthMethod is how the token is presented (PROTOCOL.md section 2).
type AuthMethod int

// Auth methods.
const (
	AuthHeader      AuthMethod = iota // Authorization: Bearer <token> (default)
	AuthQuery                         // ?token=<token>
	AuthSubprotocol                   // Sec-WebSocket-Protocol: weft.v1, x-api-key.<token>
	AuthInBand                        // first frame {"type":"auth","token":...}
)

// ReconnectPolicy says how a dropped connection is dialled again: attempt n
// (0-based) waits min(Base*2^n, Max), less a random part of up to Jitter of
// it, so clients dropped together do not return together.
type ReconnectPolicy struct {
	Disabled    bool          // never reconnect: a drop fails everything in flight
	Base        time.Duration // default 1 s
	Max         time.Duration // default 30 s
	MaxAttempts int           // consecutive failed dials before giving up; 0 = never give up
	Jitter      float64       // 0..1, default 0.5; negative = none
}

// Delay is the wait before reconnect attempt n (0-based).
func (p ReconnectPolicy) Delay(n int) time.Duration {
	p = p.withDefaults()
	d := p.Base
	for i := 0; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter > 0 {
		d -= time.Duration(rand.Float64() * p.Jitter * float64(d))
	}
	return d
}

func (p ReconnectPolicy) withDefaults() ReconnectPolicy {
	if p.Base <= 0 {
		p.Base = time.Second
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = 0.5
	case p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		p.Jitter = 1
	}
	return p
}

// State is the connection state reported to Options.OnStateChange.
type State int

// States.
const (
	StateConnected    State = iota + 1
	StateReconnecting       // dropped; dialling again
	StateFailed             // reconnecting gave up (or was disabled)
	StateClosed             // Close was called
)

func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Options configure a Client. Only Token is usually needed.
type Options struct {
	Token string
	Auth  AuthMethod

	Reconnect ReconnectPolicy

	// QueueWhileDisconnected bounds the requests (and starts) that wait
	// for the next connection while disconnected; 0 = fail fast with a
	// retryable UNAVAILABLE *Error.
	QueueWhileDisconnected int

	// HandshakeTimeout bounds dial + authentication (default 10 s).
	HandshakeTimeout time.Duration
	// ReadTimeout: a connection silent for this long is considered dead
	// and dropped (default two heartbeat intervals announced by the server,
	// 60 s when none is).
	ReadTimeout time.Duration
	// PingInterval: an app-level {"type":"ping"} is sent this often, so
	// idle connections stay alive through proxies and a dead server is
	// noticed (default half the server's heartbeat interval; negative =
	// never).
	PingInterval time.Duration
	// WriteTimeout bounds the write of one frame (default 10 s).
	WriteTimeout time.Duration

	Header http.Header       // extra upgrade headers (e.g. Origin)
	Dialer *websocket.Dialer // default websocket.DefaultDialer's settings
	Logger *slog.Logger      // default: discard

	// UserAgent is sent as User-Agent on the upgrade and on the HTTP
	// requests (artifacts); it wins over Header's. The server records it
	// in the audit trail (weft's CLI sends weft-cli/<version>).
	UserAgent string

	// HTTPClient makes the HTTP requests of the artifact methods (default:
	// one with the Dialer's TLS config and proxy).
	HTTPClient *http.Client

	// OnStateChange is called (from the dispatcher goroutine, in order)
	// on every state change; err is the cause of a drop or failure.
	OnStateChange func(s State, err error)
}

// userAgent is the User-Agent the client sends ("" = the default).
func (o Options) userAgent() string {
	if o.UserAgent != "" {
		return o.UserAgent
	}
	return o.Header.Get("User-Agent")
}
