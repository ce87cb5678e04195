package server_test

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/weft-run/weft/transport/httpapi/spec"
	"github.com/weft-run/weft/transport/ws"
)

// openAPIDoc is the part of the OpenAPI document the checks read.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		Service  string            `yaml:"x-weft-service"`
		Scope    string            `yaml:"x-weft-scope"`
		Security *[]map[string]any `yaml:"security"` // nil: the document's (bearer)
	} `yaml:"paths"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIListsExactlyTheServedRoutes parses the OpenAPI document the
// server serves and compares its operations with the routes of the mux:
// each operation is served, each route is documented, with the same socket
// service and the same scope as the walk in scopes_test.go.
func TestOpenAPIListsExactlyTheServedRoutes(t *testing.T) {
	ts := startServer(t, "")
	r := httpDo(t, ts, "GET", "/api/v1/openapi.yaml", "", nil)
	r.expectStatus(t, http.StatusOK)
	var doc openAPIDoc
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if !slices.Contains(httpMethods, method) {
				continue // parameters, summary, ...
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			tc, ok := httpCases[key]
			if !ok {
				continue // reported below as not served
			}
			switch {
			case tc.public || tc.socket:
				if op.Service != "" || op.Scope != "" {
					t.Errorf("%s: x-weft-service %q / x-weft-scope %q on a route that is no service", key, op.Service, op.Scope)
				}
				// "security: []" or a list holding the empty requirement {}.
				if op.Security == nil || len(*op.Security) > 0 && !slices.ContainsFunc(*op.Security, func(m map[string]any) bool { return len(m) == 0 }) {
					t.Errorf("%s needs no token, but its security does not say so", key)
				}
			default:
				if op.Scope != string(tc.scope) {
					t.Errorf("%s: x-weft-scope %q, the service needs %q", key, op.Scope, tc.scope)
				}
				if op.Security != nil {
					t.Errorf("%s overrides the document's bearer security", key)
				}
			}
		}
	}
	served := map[string]bool{}
	for _, route := range ts.Routes() {
		key := route.String()
		served[key] = true
		if !documented[key] {
			t.Errorf("the server serves %s; openapi.yaml does not document it", key)
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		if got := doc.Paths[path][strings.ToLower(method)].Service; got != route.Service {
			t.Errorf("%s: x-weft-service %q, the route calls %q", key, got, route.Service)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("openapi.yaml documents %s; the server does not serve it", key)
		}
	}
	if len(served) < 15 {
		t.Fatalf("only %d routes: the comparison is not looking at the real mux", len(served))
	}
	// The JSON form is served too and is the same document.
	j := httpDo(t, ts, "GET", "/api/v1/openapi.json", "", nil)
	if string(j.body) != string(spec.OpenAPIJSON()) {
		t.Error("/api/v1/openapi.json is not spec.OpenAPIJSON()")
	}
}

// asyncAPIDoc is the part of the AsyncAPI document the checks read.
type asyncAPIDoc struct {
	Channels map[string]struct {
		Address string   `yaml:"address"`
		Aliases []string `yaml:"x-weft-aliases"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action  string `yaml:"action"`
		Service string `yaml:"x-weft-service"`
		Scope   string `yaml:"x-weft-scope"`
	} `yaml:"operations"`
}

// TestAsyncAPIListsExactlyTheSocketServices: the socket document has one
// operation per service the socket dispatches (ws.Services), with the scope
// the walk in scopes_test.go enforces, and its channel addresses are the
// socket routes the mux serves.
func TestAsyncAPIListsExactlyTheSocketServices(t *testing.T) {
	ts := startServer(t, "")
	r := httpDo(t, ts, "GET", "/api/v1/asyncapi.yaml", "", nil)
	r.expectStatus(t, http.StatusOK)
	var doc asyncAPIDoc
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{} // service -> scope
	for name, op := range doc.Operations {
		if op.Service == "" {
			continue
		}
		if _, dup := documented[op.Service]; dup {
			t.Errorf("service %s has two operations", op.Service)
		}
		if op.Action != "receive" {
			t.Errorf("operation %s: action %q, want receive (the server receives requests)", name, op.Action)
		}
		documented[op.Service] = op.Scope
	}
	real := ws.Services()
	if got := slices.Sorted(maps.Keys(documented)); !slices.Equal(got, real) {
		t.Errorf("asyncapi.yaml documents services\n  %q\nthe socket serves\n  %q", got, real)
	}
	for service, scope := range documented {
		tc, ok := wsCases[service]
		if !ok {
			continue // the walk reports it
		}
		want := string(tc.scope)
		if want == "" {
			want = "none"
		}
		if scope != want {
			t.Errorf("%s: x-weft-scope %q, the service needs %q", service, scope, want)
		}
	}

	var addresses []string
	for _, ch := range doc.Channels {
		addresses = append(addresses, ch.Address)
		addresses = append(addresses, ch.Aliases...)
	}
	var sockets []string
	for _, route := range ts.Routes() {
		if httpCases[route.String()].socket {
			sockets = append(sockets, route.Path)
		}
	}
	slices.Sort(addresses)
	slices.Sort(sockets)
	if len(sockets) == 0 || !slices.Equal(addresses, sockets) {
		t.Errorf("asyncapi.yaml channel addresses %q, socket routes %q", addresses, sockets)
	}
}
