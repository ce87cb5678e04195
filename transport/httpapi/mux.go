package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/weft-run/weft"
)

// Route is one method and path a Mux serves.
type Route struct {
	Method string // GET, POST, ...
	Path   string // a net/http pattern path, e.g. /api/v1/executions/{id}
	// Service is the socket service the route mirrors (e.g. execution.get),
	// "" for routes that are not a service (health, metrics, documents, the
	// socket itself).
	Service string
}

func (r Route) String() string { return r.Method + " " + r.Path }

// Mux is an http.ServeMux that remembers the routes it serves. Anything it
// does not serve (unknown path, or a known path with another method) gets
// the protocol's error body: 404 UNKNOWN_SERVICE, naming the methods the
// path does take, instead of net/http's plain-text 404 or 405.
type Mux struct {
	mux    *http.ServeMux
	routes []Route
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	m := &Mux{mux: http.NewServeMux()}
	m.mux.HandleFunc("/", m.unknown)
	return m
}

// Handle serves h for method and path (a Go 1.22 pattern path with
// {wildcards}); service names the socket service it mirrors, if any.
// A GET route also answers HEAD, as net/http does.
func (m *Mux) Handle(method, path, service string, h http.Handler) {
	m.mux.Handle(method+" "+path, h)
	m.routes = append(m.routes, Route{Method: method, Path: path, Service: service})
}

// HandleFunc is Handle for a function.
func (m *Mux) HandleFunc(method, path, service string, h http.HandlerFunc) {
	m.Handle(method, path, service, h)
}

// Routes lists what the Mux serves, in registration order (a copy).
func (m *Mux) Routes() []Route { return slices.Clone(m.routes) }

func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unknown answers a request no route takes.
func (m *Mux) unknown(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, method := range probeMethods {
		if method == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := m.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, method)
		}
	}
	if len(allowed) > 0 {
		WriteError(w, weft.Errorf(weft.CodeUnknownService, "no route %s %s (this path takes %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
		return
	}
	WriteError(w, weft.Errorf(weft.CodeUnknownService, "no route %s %s", r.Method, r.URL.Path))
}
