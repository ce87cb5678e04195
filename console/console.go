// Package console is weft's web console: plain HTML, CSS and JavaScript
// embedded in the binary (no build step, nothing to install), served by
// `weft serve` at /console/. It talks to the server only through the public
// socket protocol, through the shared JavaScript client (clients/js,
// served as weft.js), with a token the operator types in (kept in the tab's
// sessionStorage), so it can do exactly what any client may do with that
// token, and no more. It talks only to the server that serves it (its own
// origin): nothing can point it, and the token, at another host.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	js "github.com/weft-run/weft/clients/js"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every console file: scripts, styles
// and connections (the socket included: 'self' covers ws: and wss: of the
// same host) only to the console's own origin, no inline code, no
// framing. The console holds an operator's token, so it must not be able
// to send it anywhere else.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the console's files. It can be mounted at any path ending
// in /console/ (the part of the path up to and including "/console" is
// ignored), e.g. mux.Handle("/console/", console.Handler()).
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic("console: embedded assets missing: " + err.Error()) // a build bug
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if i := strings.Index(p, "/console"); i >= 0 {
			p = p[i+len("/console"):]
		}
		if p == "" {
			http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		w.Header().Set("Referrer-Policy", "no-referrer")
		if p == "/weft.js" { // the shared JavaScript client, not a copy
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write(js.Source)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		files.ServeHTTP(w, r2)
	})
}
