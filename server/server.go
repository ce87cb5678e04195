package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/artifacts"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/metrics"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/transport/auth"
	"github.com/weft-run/weft/transport/httpapi"
	"github.com/weft-run/weft/transport/ws"
	"github.com/weft-run/weft/workflows"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	Addr      string // default 127.0.0.1:8080; ":0" style picks a free port
	DataDir   string // default ./weft-data: the bbolt file (and keys.json when KeysFile is empty)
	KeysFile  string // tokens; "" = <DataDir>/keys.json, created with one admin token on first start
	JWTSecret string // HS256 secret, at least 32 bytes; "" = JWTs refused
	Registry  *workflows.Registry
	LLM       workflows.Provider // default: the offline scripted provider
	Logger    *zerolog.Logger    // default: no logs
	Socket    ws.Config
	// HTTP bounds the HTTP resource plane; its MaxBodyBytes defaults to
	// the socket's MaxMessageBytes. Its timeouts and header bound apply to
	// the whole HTTP server, its per-address rate limit to every request
	// but /healthz, /readyz and /metrics.
	HTTP httpapi.Config
	// MetricsToken, when set, puts /metrics behind
	// "Authorization: Bearer <MetricsToken>" (default: no token).
	MetricsToken string
	// DrainTimeout bounds how long a graceful shutdown waits for running
	// steps to reach a checkpoint (default 10 s).
	DrainTimeout time.Duration
	// RoomPresenceLimit is the largest room that gets room.joined /
	// room.left pushes (default 1000; negative: no limit).
	RoomPresenceLimit int
	// Retention removes executions that ended longer ago than this (weft
	// serve --retention; 0, the default, keeps them). A workflow registered
	// with workflows.Retention has its own.
	Retention time.Duration
	// Quotas bound rooms per connection, signals per execution and
	// unfinished executions per workspace (LIMIT_EXCEEDED past them).
	Quotas actors.Quotas
	// WarmExecutions and PassivateAfter bound the waiting executions that
	// keep their actor in memory (default 10,000, and 30 s each); past
	// them an execution is passivated: it keeps at most a wake-time entry
	// until it is due, signalled or cancelled (actors.Config).
	WarmExecutions int
	PassivateAfter time.Duration
	// MaxArtifactBytes bounds one artifact, uploaded or created by a
	// workflow (weft serve --max-artifact-bytes; default 100 MiB).
	MaxArtifactBytes int64
	// NoAudit turns the audit trail off (weft serve --audit=false): no
	// record of mutations is written (actors/audit.go).
	NoAudit bool
	// NoSync turns off fsync: only for tests and benchmarks of other parts.
	NoSync bool
	// TracerProvider, if set, traces executions with OpenTelemetry: a span
	// per execution and per step (README "Tracing"). Nil, the default: no
	// tracing, at no cost. The server does not shut it down: its owner
	// does, after Shutdown, to flush the last spans.
	TracerProvider trace.TracerProvider
	// Cluster turns on cluster mode when its NATSURLs are set (cluster.go).
	Cluster ClusterConfig
	// Serving, if set, is called once Start listens and has resumed the
	// unfinished executions, with the address it listens on: the real
	// port when Addr asked for any (":0"). weft serve prints its first
	// start's banner there.
	Serving func(addr string)
	// StoreWriteFault, if set, is called before each store transaction; an
	// error fails it as a failing disk would (persistence.Options
	// FailWrites). Tests only.
	StoreWriteFault func() error
	Version         string
}

// Server is one weft node.
type Server struct {
	cfg       Config
	log       zerolog.Logger
	metrics   *metrics.Metrics
	store     *persistence.Store
	execStore actors.Store     // the actors' store: store, or in cluster mode clusterStore
	artifacts *artifacts.Store // artifacts.go
	arts      artifactKeeper   // what serves artifacts: artifacts, or in cluster mode the JetStream store
	artSweep  artifactSweep    // artifacts.go
	bus       *events.Bus
	sys       *actors.System
	svc       *actors.Service
	auth      *auth.Authenticator
	api       *httpapi.API
	mux       *httpapi.Mux
	http      *http.Server
	ln        net.Listener
	ready     atomic.Bool
	bootstrap string // admin token written to a new keys.json, if any
	keysFile  string
	serveErr  chan error
	stopOnce  sync.Once
	stopErr   error
	cluster   *clusterNode       // cluster mode only (cluster.go)
	clusterEx *clusterExecutions // cluster mode only (cluster_executions.go)
}

// New opens the store and builds every part, but does not listen yet.
func New(cfg Config) (*Server, error) {
	cfg = withDefaults(cfg)
	s := &Server{cfg: cfg, log: *cfg.Logger, serveErr: make(chan error, 1)}
	nodeID := ""
	if cfg.Cluster.enabled() {
		id, err := clusterNodeID(cfg)
		if err != nil {
			return nil, err
		}
		nodeID, s.log = id, s.log.With().Str("node", id).Logger()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	authn, err := s.openAuth()
	if err != nil {
		return nil, err
	}
	s.auth = authn
	s.metrics = metrics.New()
	if err := s.openArtifacts(); err != nil { // artifacts.go
		return nil, err
	}
	s.store, err = persistence.Open(filepath.Join(cfg.DataDir, "weft.db"), persistence.Options{
		NoSync: cfg.NoSync,
		OnCommit: func(d time.Duration, writes int) {
			s.metrics.StoreCommitLatency.Observe(d.Seconds())
			s.metrics.StoreCommitWrites.Observe(float64(writes))
		},
		OnHealth:   s.storeHealthChanged,
		FailWrites: cfg.StoreWriteFault,
		OnDeleted:  s.executionsDeleted, // artifacts.go
	})
	s.metrics.StoreWritable.Set(1)
	if err != nil {
		_ = s.artifacts.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.bus = events.NewInProcessBus(slogOf(s.log.With().Str("component", "bus").Logger()))
	var peers actors.Peers
	if nodeID != "" {
		if s.cluster, err = s.connectCluster(nodeID); err != nil {
			_ = s.store.Close()
			_ = s.artifacts.Close()
			return nil, err
		}
		peers = s.cluster.peers
	}
	s.execStore = s.store
	var clusterCfg *actors.ClusterConfig
	if s.cluster != nil {
		if s.clusterEx, err = openClusterExecutions(s.cluster.nc, cfg.Cluster.Replicas, s.cluster.log); err != nil {
			s.cluster.close(s.metrics.Registry)
			_ = s.store.Close()
			_ = s.artifacts.Close()
			return nil, err
		}
		s.execStore = clusterStore{Store: s.store, js: s.clusterEx.js, onDeleted: s.executionsDeleted}
		if s.arts, err = openClusterArtifacts(s.cluster.nc, cfg.Cluster.Replicas, cfg.MaxArtifactBytes); err != nil {
			_ = s.clusterEx.close()
			s.cluster.close(s.metrics.Registry)
			_ = s.store.Close()
			_ = s.artifacts.Close()
			return nil, err
		}
		_ = s.bus.Close()
		s.bus = s.clusterEx.bus()
		clusterCfg = s.clusterEx.actorsConfig(cfg.Cluster.Partitions)
		clusterCfg.OrphanCheck = cfg.Cluster.OrphanCheck
	}
	s.sys, err = actors.NewSystem(actors.Config{
		Store: s.execStore, Bus: s.bus, Cluster: clusterCfg, Registry: cfg.Registry, Artifacts: s.arts, Logger: s.log, Metrics: s.metrics, Retention: cfg.Retention,
		Env: workflows.Env{LLM: cfg.LLM, Logger: s.log}, RoomPresenceLimit: cfg.RoomPresenceLimit,
		Quotas: cfg.Quotas, WarmExecutions: cfg.WarmExecutions, PassivateAfter: cfg.PassivateAfter,
		TracerProvider: cfg.TracerProvider, Peers: peers,
	})
	if err != nil {
		if s.cluster != nil {
			_ = s.clusterEx.close()
			s.cluster.close(s.metrics.Registry)
		}
		_ = s.store.Close()
		return nil, err
	}
	limits := cfg.Socket.WithDefaults()
	s.svc = actors.NewService(s.sys, actors.ServerInfo{
		Name: "weft", Version: cfg.Version, Protocol: "weft.v1", Build: buildInfo(),
		Limits: infoLimits(limits, cfg.Quotas.WithDefaults()),
		Node:   nodeID,
	})
	s.svc.SetAudit(!cfg.NoAudit)
	if s.clusterEx != nil {
		s.clusterEx.sys, s.clusterEx.svc = s.sys, s.svc
	}
	if s.cluster != nil {
		if err := s.cluster.servePeers(s.svc); err != nil {
			_ = s.clusterEx.close()
			s.cluster.close(s.metrics.Registry)
			_ = s.sys.Shutdown(context.Background())
			_ = s.store.Close()
			_ = s.artifacts.Close()
			return nil, err
		}
	}
	sock := ws.NewServer(s.sys, s.svc, authn, cfg.Socket, s.metrics, s.log)
	httpCfg := cfg.HTTP
	if httpCfg.MaxBodyBytes <= 0 {
		httpCfg.MaxBodyBytes = limits.MaxMessageBytes
	}
	s.api = httpapi.New(s.svc, authn, httpCfg, s.log)
	s.mux = s.routes(sock, s.api)
	// Guard limits the requests that do not authenticate per address, in
	// front of everything but health and metrics; the API limits each
	// token. Upgraded sockets drop the server's deadlines (net/http clears
	// them on hijack) and keep their own.
	s.http = &http.Server{Handler: s.api.Guard(withConsole(s.mux))}
	s.api.Config().ServerConfig(s.http)
	// Event streams follow executions that may run for days: end them when
	// shutdown starts instead of waiting for them (clients resume with
	// Last-Event-ID).
	s.http.RegisterOnShutdown(s.api.Shutdown)
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "./weft-data"
	}
	if cfg.Registry == nil {
		cfg.Registry = workflows.NewRegistry()
	}
	if cfg.LLM == nil {
		cfg.LLM = workflows.ScriptedProvider{}
	}
	if cfg.Logger == nil {
		nop := zerolog.Nop()
		cfg.Logger = &nop
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	return cfg
}

// openAuth loads the keys file, creating one with an admin token on first
// start when none was given: a weft server is never open.
func (s *Server) openAuth() (*auth.Authenticator, error) {
	s.keysFile = s.cfg.KeysFile
	if s.keysFile == "" {
		path, token, created, err := auth.EnsureKeysFile(s.cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("keys file: %w", err)
		}
		s.keysFile = path
		if created {
			s.bootstrap = token
		}
	}
	a, err := auth.New(auth.Options{KeysFile: s.keysFile, JWTSecret: []byte(s.cfg.JWTSecret)})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.warnKeysFileMode()
	return a, nil
}

// ReloadKeys re-reads the keys file without a restart: new tokens work and
// removed ones are refused from the next request or connection on
// (connections already open keep the identity they authenticated with).
// On any error the previous keys stay in force. The outcome is logged.
func (s *Server) ReloadKeys() (err error) {
	defer func() { s.svc.AuditSystem("keys.reload", s.keysFile, err) }()
	if err := s.auth.Reload(); err != nil {
		s.log.Error().Err(err).Str("keys_file", s.keysFile).Msg("keys reload failed; previous keys kept")
		return err
	}
	s.log.Info().Str("keys_file", s.keysFile).Msg("keys reloaded")
	s.warnKeysFileMode()
	return nil
}

// warnKeysFileMode logs a warning when others than the server's user may
// read the keys file.
func (s *Server) warnKeysFileMode() {
	if w := auth.KeysFileModeWarning(s.keysFile); w != "" {
		s.log.Warn().Str("keys_file", s.keysFile).Msg(w)
	}
}

// infoLimits are server.info's limits: what a client may send, and the
// caps and quotas it may run into (a limit that is off is left out).
func infoLimits(sock ws.Config, q actors.Quotas) map[string]any {
	limits := map[string]any{
		"max_message_bytes":   sock.MaxMessageBytes,
		"messages_per_second": sock.MessagesPerSecond,
		"max_inflight":        sock.MaxInflight,
	}
	for name, n := range map[string]int{
		"max_connections_per_ip":        sock.MaxConnectionsPerIP,
		"max_connections_per_workspace": sock.MaxConnectionsPerWorkspace,
		"executions_per_workspace":      q.ExecutionsPerWorkspace,
		"signals_per_execution":         q.SignalsPerExecution,
		"rooms_per_connection":          q.RoomsPerConnection,
	} {
		if n > 0 {
			limits[name] = n
		}
	}
	return limits
}

// BootstrapToken is the admin token written to a keys file created by this
// start ("" when the keys file existed or was given).
func (s *Server) BootstrapToken() string { return s.bootstrap }

// KeysFile is the keys file in use.
func (s *Server) KeysFile() string { return s.keysFile }

// Service returns the service layer (for embedding applications).
func (s *Server) Service() *actors.Service { return s.svc }

// Start listens on Config.Addr, resumes unfinished executions and serves in
// the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = ln
	if s.cluster != nil {
		if err := s.cluster.join(ctx, s.cfg.Cluster, s.Addr(), s.metrics.Registry, s.clusterEx); err != nil {
			_ = ln.Close()
			return err
		}
	}
	n, err := s.sys.Recover(ctx)
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.startArtifactSweep() // artifacts.go
	s.ready.Store(true)
	s.log.Info().Str("addr", s.Addr()).Int("resumed_executions", n).Msg("weft serving")
	if s.cfg.Serving != nil {
		s.cfg.Serving(s.Addr())
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
		close(s.serveErr)
	}()
	return nil
}

// Addr is the address the server listens on (with the real port).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Run starts the server and serves until ctx ends, then shuts down
// gracefully (within Config.DrainTimeout and 5 s more). While it runs,
// SIGHUP reloads the keys file (ReloadKeys) instead of ending the process.
func (s *Server) Run(ctx context.Context) error {
	// Before Start: once /readyz answers, a SIGHUP must not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := s.Start(ctx); err != nil {
		return err
	}
	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case serveErr = <-s.serveErr:
			break wait
		case <-hup:
			_ = s.ReloadKeys() // logged there; the old keys stay on failure
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout+5*time.Second)
	defer cancel()
	return errors.Join(serveErr, s.Shutdown(shutdownCtx))
}

// Shutdown stops accepting, lets running steps reach a checkpoint (within
// ctx, or Config.DrainTimeout), closes sockets with 1001, stops the actors
// (unfinished executions resume at next start), then flushes and closes the
// store. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		// Not ready (/readyz answers 503) and no new starts (UNAVAILABLE)
		// while running steps reach their checkpoint; the listener stays
		// open meanwhile, so probes see the 503 and sockets keep getting
		// events.
		s.ready.Store(false)
		var errs []error
		drainCtx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
		if err := s.sys.Drain(drainCtx); err != nil {
			s.log.Warn().Err(err).Msg("drain timed out; cancelling the rest")
		}
		cancel()
		if s.cluster != nil {
			s.cluster.leave(ctx) // hand the partitions over at once, while NATS is there
		}
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
		if err := s.sys.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		if s.clusterEx != nil {
			// Its queued writes go out while NATS is there.
			if err := s.clusterEx.close(); err != nil {
				errs = append(errs, fmt.Errorf("execution store: %w", err))
			}
		}
		if s.cluster != nil {
			// After the sockets (closed as their actors stop): their
			// leaves reach the other nodes' members.
			s.cluster.close(s.metrics.Registry)
		}
		if err := s.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bus: %w", err))
		}

		s.stopArtifactSweep()
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
		if err := s.artifacts.Close(); err != nil {
			errs = append(errs, fmt.Errorf("artifacts: %w", err))
		}
		s.stopErr = errors.Join(errs...)
		s.log.Info().Err(s.stopErr).Msg("weft stopped")
	})
	return s.stopErr
}

func buildInfo() map[string]any {
	info := map[string]any{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info["go"] = bi.GoVersion
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" || st.Key == "vcs.time" {
				info[st.Key] = st.Value
			}
		}
	}
	return info
}

// storeHealthChanged logs and exports the store's ability to write: while
// it cannot, /readyz answers 503, starts answer UNAVAILABLE and stalled
// executions wait; when it can again, they go on by themselves.
func (s *Server) storeHealthChanged(err error) {
	if err != nil {
		s.metrics.StoreWritable.Set(0)
		s.log.Error().Err(err).Msg("the store cannot write: refusing new work until it can")
		return
	}
	s.metrics.StoreWritable.Set(1)
	s.log.Info().Msg("the store can write again")
}
