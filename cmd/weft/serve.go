package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/openai"
)

type serveFlags struct {
	addr, dataDir, keys, jwtSecret string
	logLevel, logFormat            string
	llmProvider, llmBaseURL        string
	llmAPIKey, llmModel            string
	socket                         socketFlags
	http                           httpFlags
	metricsToken                   string
	debugAddr                      string
	roomPresenceLimit              int
	retention                      time.Duration
	audit                          bool
}

func serveCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft serve", stderr)
	var f serveFlags
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.dataDir, "data-dir", "./weft-data", "directory of the bbolt store (and keys.json when --keys is not given)")
	fs.StringVar(&f.keys, "keys", "", "keys file: {\"keys\":[{\"token\",\"identity\",\"workspace\",\"scopes\"}]}")
	fs.StringVar(&f.jwtSecret, "jwt-secret", "", "HS256 secret for JWT tokens (empty: JWTs refused)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "console", "json or console")
	fs.StringVar(&f.llmProvider, "llm-provider", "scripted", "scripted (offline, the default) or openai")
	fs.StringVar(&f.llmBaseURL, "llm-base-url", "", "OpenAI-compatible base URL (default https://api.openai.com/v1), e.g. http://127.0.0.1:11434/v1 for Ollama")
	fs.StringVar(&f.llmAPIKey, "llm-api-key", "", "API key of the LLM provider (none for local servers)")
	fs.StringVar(&f.llmModel, "llm-model", "", "model for LLM steps that name none, e.g. gpt-4o-mini or llama3.2")
	f.socket.register(fs)
	f.http.register(fs)
	fs.IntVar(&f.roomPresenceLimit, "room-presence-limit", 1000, "largest room whose joins and leaves are pushed to its members (room.joined/room.left); larger rooms send none (0: no limit)")
	fs.StringVar(&f.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	fs.BoolVar(&f.audit, "audit", true, "record every mutation in the audit trail (GET /api/v1/audit, weft audit)")
	fs.DurationVar(&f.retention, "retention", 0, "delete executions that ended longer ago than this, e.g. 720h (0: keep them; a workflow may set its own)")
	fs.StringVar(&f.metricsToken, "metrics-token", "", "if set, /metrics needs \"Authorization: Bearer <token>\"")
	return withCluster(withTracing(newLeaf(fs, leaf{ // --otlp-endpoint: serve_tracing.go; --nats-*, --node-id: serve_cluster.go
		name: "serve", usage: "weft serve [flags]", args: exactly(0),
		help: "Run the weft server with the reference workflows.",
		run: func(ctx context.Context, _ []string) error {
			return serve(ctx, f, stdout, stderr)
		},
	})))
}

func serve(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return err
	}
	llm, err := newProvider(f)
	if err != nil {
		return err
	}
	if f.debugAddr != "" {
		if err := serveDebug(ctx, f.debugAddr, log); err != nil {
			return err
		}
	}
	reg := workflows.NewRegistry()
	reference.Register(reg)
	var srv *server.Server
	srv, err = server.New(server.Config{
		Addr: f.addr, DataDir: f.dataDir, KeysFile: f.keys, JWTSecret: f.jwtSecret,
		Registry: reg, LLM: llm, Logger: &log, Version: version, Retention: f.retention,
		Socket: f.socket.config(), HTTP: f.http.config(), DrainTimeout: f.socket.drainTimeout, MetricsToken: f.metricsToken,
		RoomPresenceLimit: presenceLimit(f.roomPresenceLimit), Quotas: f.socket.quotas(), MaxArtifactBytes: f.http.maxArtifactBytes,
		NoAudit: !f.audit, TracerProvider: tracerProviderFrom(ctx), Cluster: clusterConfigFrom(ctx),
		Serving: func(addr string) { printBanner(stdout, srv, addr) },
	})
	if err != nil {
		return err
	}
	// Every start says where the tokens are (never the tokens themselves:
	// only the first start's banner prints the one it created).
	log.Info().Str("keys_file", srv.KeysFile()).Msg("tokens are in the keys file")
	return srv.Run(ctx)
}

// printBanner tells, on the start that created the keys file, the admin
// token it holds and where to use it, at the address listened on (the
// real port of --addr :0).
func printBanner(stdout io.Writer, srv *server.Server, addr string) {
	token := srv.BootstrapToken()
	if token == "" {
		return
	}
	addr = dialable(addr)
	fmt.Fprintf(stdout, "\nCreated %s with an admin token:\n\n    %s\n\n"+
		"Open the console at http://%s/console/ and log in with it,\n"+
		"or connect a socket, e.g.:\n    websocat 'ws://%s/api/v1/socket?token=%s'\n\n",
		srv.KeysFile(), token, addr, addr, token)
}

// dialable is addr as a browser on this machine reaches it: a server
// listening on every interface (":8080", "0.0.0.0:8080", "[::]:8080") is
// at localhost.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("localhost", port)
	}
	return addr
}

func newLogger(level, format string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	switch format {
	case "json":
	case "console":
		// Colours only on a terminal (isTerminal: target.go), never in a
		// pipe or a file.
		w = zerolog.ConsoleWriter{Out: w, NoColor: os.Getenv("NO_COLOR") != "" || !isTerminal(w)}
	default:
		return zerolog.Logger{}, usageError{fmt.Sprintf("--log-format %q: want json or console", format)}
	}
	// Milliseconds: a fail-over or a reconnect is told apart from what
	// happened in the same second only by them.
	zerolog.TimeFieldFormat = logTimeFormat
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// logTimeFormat is RFC 3339 with milliseconds.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// newProvider builds the LLM provider the flags name: the offline scripted
// recruiter of the reference workflows, or an OpenAI-compatible server
// (OpenAI, Ollama, vLLM, llama.cpp).
func newProvider(f serveFlags) (workflows.Provider, error) {
	switch f.llmProvider {
	case "", "scripted":
		return reference.ScriptedLLM(), nil
	case "openai":
		p, err := openai.New(openai.Config{BaseURL: f.llmBaseURL, APIKey: f.llmAPIKey, Model: f.llmModel})
		if err != nil {
			return nil, usageError{"--llm-base-url: " + err.Error()}
		}
		return p, nil
	default:
		return nil, usageError{fmt.Sprintf("--llm-provider %q: want scripted or openai", f.llmProvider)}
	}
}

// presenceLimit maps --room-presence-limit (0: no limit) to
// server.Config.RoomPresenceLimit (0: the default, negative: no limit).
func presenceLimit(flag int) int {
	if flag <= 0 {
		return -1
	}
	return flag
}
