package main

import (
	"flag"
	"strings"
	"time"

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
	}
}
