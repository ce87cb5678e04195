package ws

import "time"

// Config holds the socket limits of PROTOCOL.md section 6. The zero value
// of each field means its default.
type Config struct {
	MaxMessageBytes            int           // default 65,536
	MessagesPerSecond          float64       // default 100 (token bucket, burst = the rate)
	HeartbeatInterval          time.Duration // default 30 s; a peer silent for two intervals is closed
	AuthTimeout                time.Duration // default 10 s, for in-band auth
	OutboxFrames               int           // default 1,024 frames queued per connection
	OutboxBytes                int           // default 4 MiB queued per connection
	WriteTimeout               time.Duration // default 10 s per frame
	MaxConnections             int           // per server, default 10,000
	MaxConnectionsPerWorkspace int           // default 0: no limit
	// MaxConnectionsPerIP bounds the sockets of one remote address (IPv6:
	// one /64), default 1,000; negative: no limit.
	MaxConnectionsPerIP int
	// MaxUnauthenticatedPerIP bounds the sockets of one remote address
	// that have not authenticated yet (in-band auth pending), default 32;
	// negative: no limit.
	MaxUnauthenticatedPerIP int
	// MaxInflight bounds the requests a connection has in flight, streams
	// and subscriptions included (default 1,000); past it a request gets
	// LIMIT_EXCEEDED.
	MaxInflight int
	// AllowedOrigins lists the browser origins ("https://app.example.com")
	// that may open a socket. Empty: same origin only; "*": any. Clients
	// that send no Origin (not browsers) are always allowed.
	AllowedOrigins []string
	// DisableCompression turns off permessage-deflate (negotiated when the
	// client offers it otherwise).
	DisableCompression bool
	// AbuseAfter is how long a client may stay over the rate, every frame
	// refused, before it is closed with 1008 (default 5 s). A single burst
	// only gets RATE_LIMITED answers.
	AbuseAfter time.Duration
}

// WithDefaults fills every zero field with its PROTOCOL default.
func (c Config) WithDefaults() Config {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 65536
	}
	if c.MessagesPerSecond <= 0 {
		c.MessagesPerSecond = 100
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 30 * time.Second
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.OutboxFrames <= 0 {
		c.OutboxFrames = 1024
	}
	if c.OutboxBytes <= 0 {
		c.OutboxBytes = 4 << 20
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.AbuseAfter <= 0 {
		c.AbuseAfter = 5 * time.Second
	}
	if c.MaxConnectionsPerIP == 0 {
		c.MaxConnectionsPerIP = 1000
	}
	if c.MaxUnauthenticatedPerIP == 0 {
		c.MaxUnauthenticatedPerIP = 32
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 1000
	}
	return c
}

// Close codes of PROTOCOL.md section 6.
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeUnsupported     = 1003
	closeInvalidPayload  = 1007
	closePolicy          = 1008
	closeTooBig          = 1009
	closeInternal        = 1011
	closeTryAgainLater   = 1013
	closeByOperator      = 4000
	closeUnauthenticated = 4001
)
