package main

import (
	"flag"
	"strings"
	"time"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/transport/ws"
)

// socketFlags are the limits of PROTOCOL.md section 6, with its defaults.
type socketFlags struct {
	maxMessageBytes    int
	messagesPerSecond  float64
	maxConnections     int
	maxPerWorkspace    int
	heartbeat          time.Duration
	authTimeout        time.Duration
	outboxFrames       int
	outboxBytes        int
	writeTimeout       time.Duration
	allowedOrigins     string
	disableCompression bool
	drainTimeout       time.Duration
	maxPerIP           int
	maxPendingPerIP    int
	maxInflight        int
	abuseAfter         time.Duration

	// Quotas of the service (actors.Quotas).
	maxRooms      int
	maxSignals    int
	maxExecutions int
}

func (f *socketFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.maxMessageBytes, "max-message-bytes", 65536, "largest client frame; larger: WS_MESSAGE_TOO_LARGE and close 1009")
	fs.Float64Var(&f.messagesPerSecond, "messages-per-second", 100, "per-connection rate (token bucket, burst = rate)")
	fs.IntVar(&f.maxConnections, "max-connections", 10000, "sockets per server")
	fs.IntVar(&f.maxPerWorkspace, "max-connections-per-workspace", 0, "sockets per workspace (0: no limit)")
	fs.DurationVar(&f.heartbeat, "heartbeat-interval", 30*time.Second, "WebSocket ping interval; a peer silent for two is closed")
	fs.DurationVar(&f.authTimeout, "auth-timeout", 10*time.Second, "time for the in-band auth frame")
	fs.IntVar(&f.outboxFrames, "outbox-frames", 1024, "frames queued per connection before it counts as slow")
	fs.IntVar(&f.outboxBytes, "outbox-bytes", 4<<20, "bytes queued per connection before it counts as slow")
	fs.DurationVar(&f.writeTimeout, "write-timeout", 10*time.Second, "how long a stalled client may block its queue before close 1013")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated browser origins allowed to connect (empty: same origin; *: any)")
	fs.BoolVar(&f.disableCompression, "disable-compression", false, "do not negotiate permessage-deflate")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM, how long running steps get to reach a checkpoint")
	fs.IntVar(&f.maxPerIP, "max-connections-per-ip", 1000, "sockets per remote address, an IPv6 /64 counting as one (0: no limit)")
	fs.IntVar(&f.maxPendingPerIP, "max-unauthenticated-per-ip", 32, "sockets per remote address still waiting to authenticate in-band (0: no limit)")
	fs.IntVar(&f.maxInflight, "max-inflight", 1000, "requests in flight per connection, streams and subscriptions included; more: LIMIT_EXCEEDED")
	fs.DurationVar(&f.abuseAfter, "abuse-after", 5*time.Second, "a client over --messages-per-second for this long is closed with 1008")
	fs.IntVar(&f.maxRooms, "max-rooms-per-connection", 100, "rooms one connection may be in; more: LIMIT_EXCEEDED (0: no limit)")
	fs.IntVar(&f.maxSignals, "max-signals-per-execution", 1000, "signals stored for an execution and not yet consumed; more: LIMIT_EXCEEDED (0: no limit)")
	fs.IntVar(&f.maxExecutions, "max-executions-per-workspace", 100000, "unfinished (running, waiting, queued) executions per workspace; more: LIMIT_EXCEEDED (0: no limit)")
}

// quotas maps the quota flags (0: no limit) to actors.Quotas (0: the
// default, negative: no limit).
func (f *socketFlags) quotas() actors.Quotas {
	return actors.Quotas{
		RoomsPerConnection:     noLimitIfZero(f.maxRooms),
		SignalsPerExecution:    noLimitIfZero(f.maxSignals),
		ExecutionsPerWorkspace: noLimitIfZero(f.maxExecutions),
	}
}

func (f *socketFlags) config() ws.Config {
	var origins []string
	for _, o := range strings.Split(f.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	return ws.Config{
		MaxMessageBytes:            f.maxMessageBytes,
		MessagesPerSecond:          f.messagesPerSecond,
		MaxConnections:             f.maxConnections,
		MaxConnectionsPerWorkspace: f.maxPerWorkspace,
		HeartbeatInterval:          f.heartbeat,
		AuthTimeout:                f.authTimeout,
		OutboxFrames:               f.outboxFrames,
		OutboxBytes:                f.outboxBytes,
		WriteTimeout:               f.writeTimeout,
		AllowedOrigins:             origins,
		DisableCompression:         f.disableCompression,
		MaxConnectionsPerIP:        noLimitIfZero(f.maxPerIP),
		MaxUnauthenticatedPerIP:    noLimitIfZero(f.maxPendingPerIP),
		MaxInflight:                f.maxInflight,
		AbuseAfter:                 f.abuseAfter,
	}
}
