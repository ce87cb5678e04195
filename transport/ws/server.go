package ws

import (
	"encoding/json"
	"net/http"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
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
	upgrader websocket.Upgrader
}

// NewServer returns the WebSocket adapter over the service.
func NewServer(sys *actors.System, svc *actors.Service, a *auth.Authenticator, cfg Config, log zerolog.Logger) *Server {
	cfg = cfg.WithDefaults()
	return &Server{
		sys:  sys,
		svc:  svc,
		auth: a,
		cfg:  cfg,
		log:  log.With().Str("component", "ws").Logger(),
		upgrader: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
			// Browsers send Origin; any origin may connect for now, since
			// every socket must still authenticate.
			CheckOrigin: func(*http.Request) bool { return true },
		},
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
	if creds, ok := auth.FromRequest(r); ok {
		id, err := s.auth.Authenticate(creds.Token)
		if err != nil {
			writeHTTPError(w, http.StatusUnauthorized, err)
			return
		}
		who = &id
	}
	header := http.Header{}
	if proto := auth.SelectSubprotocol(r); proto != "" {
		header.Set("Sec-WebSocket-Protocol", proto)
	}
	sock, err := s.upgrader.Upgrade(w, r, header)
	if err != nil {
		return // the upgrader has answered the client
	}
	c := newConnActor(s, sock, who)
	props := actor.PropsFromProducer(func() actor.Actor { return c })
	if _, err := s.sys.SpawnConnection(props, c.id); err != nil {
		s.log.Error().Err(err).Msg("spawn connection actor")
		_ = sock.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTryAgainLater, "server busy"), deadlineSoon())
		_ = sock.Close()
	}
}

// writeHTTPError writes the protocol's HTTP error body.
func writeHTTPError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": errorBodyOf(err)})
}
