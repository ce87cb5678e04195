package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/weft-run/weft/console"
)

// The console holds an operator's token: it talks only to its own origin.
// Every file carries a Content-Security-Policy that allows connections,
// scripts and styles from 'self' only (so no ws:/wss: wildcard and no
// inline code), and nothing in the page lets a URL (?server=) or a field
// choose the socket it sends the token to.
func TestConsoleTalksOnlyToItsOwnOrigin(t *testing.T) {
	ts := httptest.NewServer(console.Handler())
	defer ts.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	directives := func(csp string) map[string]string {
		out := map[string]string{}
		for d := range strings.SplitSeq(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			out[name] = strings.TrimSpace(value)
		}
		return out
	}
	for _, path := range []string{"/console/", "/console/app.js", "/console/weft.js", "/console/style.css"} {
		resp, _ := get(path)
		csp := resp.Header.Get("Content-Security-Policy")
		d := directives(csp)
		for _, name := range []string{"default-src", "connect-src", "script-src", "style-src"} {
			if d[name] != "'self'" {
				t.Errorf("GET %s: CSP %s is %q, want 'self' only (policy %q)", path, name, d[name], csp)
			}
		}
		if d["frame-ancestors"] != "'none'" || d["object-src"] != "'none'" {
			t.Errorf("GET %s: CSP %q lacks frame-ancestors/object-src 'none'", path, csp)
		}
	}

	// Every script of the console, as served.
	files, err := os.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	ownHost := false
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".js") {
			continue
		}
		_, src := get("/console/" + f.Name())
		for _, banned := range []string{"location.search", "URLSearchParams", `"weft.server"`, `$("server")`, "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(src, banned) {
				t.Errorf("%s holds %s: a URL or a field could choose the socket the token goes to, or text could become markup", f.Name(), banned)
			}
		}
		if strings.Contains(src, "new WebSocket(") && !strings.Contains(src, "ownSocket()") {
			t.Errorf("%s opens a socket that is not ownSocket()", f.Name())
		}
		ownHost = ownHost || strings.Contains(src, `location.host + "/api/v1/socket"`)
	}
	if !ownHost {
		t.Error("no console script connects to its own host's socket")
	}
	_, page := get("/console/")
	if strings.Contains(page, `id="server"`) {
		t.Error("the login form still has a server field")
	}
	// Inline code would be blocked by the policy: the page must have none.
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`)} {
		if loc := re.FindStringIndex(page); loc != nil {
			t.Errorf("index.html has inline code the policy blocks: %q", page[loc[0]:min(loc[1]+20, len(page))])
		}
	}
}
