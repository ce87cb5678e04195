package main_test

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// httpStatus answers GET /api/v1/workflows on the process with token.
func httpStatus(t *testing.T, p *weftProc, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+p.addr+"/api/v1/workflows", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/workflows: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSIGHUPReloadsKeys rewrites the keys file of a running `weft serve`
// and sends SIGHUP: the new token works and the removed one is refused,
// without a restart. A broken file then keeps the keys in force (and the
// process alive), and the failure is logged.
func TestSIGHUPReloadsKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	keys := writeKeys(t)
	p := startWeft(t, "reload", t.TempDir(), keys)
	if got := httpStatus(t, p, crashToken); got != http.StatusOK {
		t.Fatalf("admin token before the reload: %d", got)
	}
	if got := httpStatus(t, p, "t-new"); got != http.StatusUnauthorized {
		t.Fatalf("new token before the reload: %d", got)
	}

	rewrite := func(content string) {
		t.Helper()
		// Write-then-rename, as an operator's tooling would: the server
		// never reads a half-written file.
		tmp := keys + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, keys); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(`{"keys":[{"token":"t-new","identity":"nina","workspace":"default","scopes":["workflows:read"]}]}`)
	deadline := time.Now().Add(10 * time.Second)
	for httpStatus(t, p, "t-new") != http.StatusOK {
		if p.exited() {
			t.Fatalf("the process exited on SIGHUP: %v\n%s", p.waitErr, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new token is still refused after SIGHUP\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := httpStatus(t, p, crashToken); got != http.StatusUnauthorized {
		t.Fatalf("removed token after the reload: %d, want 401", got)
	}

	rewrite(`{"keys":[{"token":"t-broken"`)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(p.out.String(), "keys reload failed") {
		if p.exited() {
			t.Fatalf("the process exited: %v\n%s", p.waitErr, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log of the failed reload:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := httpStatus(t, p, "t-new"); got != http.StatusOK {
		t.Fatalf("after a broken file the previous keys must stay: %d", got)
	}
	if strings.Contains(p.out.String(), "t-broken") || strings.Contains(p.out.String(), "t-new") {
		t.Errorf("the log shows a token:\n%s", p.out.String())
	}
}
