package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/console"
	"github.com/weft-run/weft/transport/httpapi"
)

// withConsole serves the web console's static assets at /console/ (and /
// redirects there) in front of the API mux. They are not API routes, so
// they stay out of Routes and the OpenAPI document.
func withConsole(api http.Handler) http.Handler {
	ui := console.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && r.Method == http.MethodGet:
			http.Redirect(w, r, "/console/", http.StatusFound)
		case r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/"):
			ui.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// routes builds the one mux of the server: the socket, health, metrics and
// the HTTP resource plane with its documents. Every route is registered
// through httpapi.Mux, so Routes lists exactly what is served.
func (s *Server) routes(sock http.Handler, api *httpapi.API) *httpapi.Mux {
	mux := httpapi.NewMux()
	mux.Handle("GET", "/api/v1/socket", "", sock)
	mux.Handle("GET", "/ws", "", sock)
	mux.HandleFunc("GET", "/healthz", "", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET", "/readyz", "", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// ready is set once the store is open and recovery has run, and
		// cleared when shutdown (drain) starts.
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}` + "\n"))
			return
		}
		// A cluster node without NATS cannot reach the other nodes: it
		// keeps its sockets and reconnects, but should get no new ones.
		if s.cluster != nil {
			if reason := s.cluster.unready(); reason != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				body, _ := json.Marshal(map[string]string{"status": "unavailable", "reason": reason})
				_, _ = w.Write(append(body, '\n'))
				return
			}
		}
		// A store that cannot write (a full disk) takes no new work:
		// a load balancer should send it elsewhere until it can.
		if err := s.store.Writable(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			body, _ := json.Marshal(map[string]string{"status": "unavailable", "reason": err.Error()})
			_, _ = w.Write(append(body, '\n'))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	mux.Handle("GET", "/metrics", "", s.metricsHandler())
	api.Register(mux)
	return mux
}

// metricsHandler serves the registry, behind Config.MetricsToken if set.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
	if s.cfg.MetricsToken == "" {
		return h
	}
	want := sha256.Sum256([]byte(s.cfg.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		// Comparing digests keeps the time independent of the token's length.
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			httpapi.WriteError(w, weft.Errorf(weft.CodeUnauthenticated, "/metrics needs the metrics token"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Routes lists every method and path the server serves (the socket,
// health, metrics, the HTTP API and its documents), in registration order.
func (s *Server) Routes() []httpapi.Route { return s.mux.Routes() }

// slogOf routes a library's slog output (Watermill, proto.actor) to zerolog.
func slogOf(zl zerolog.Logger) *slog.Logger {
	return slog.New(zerolog.NewSlogHandler(zl))
}
