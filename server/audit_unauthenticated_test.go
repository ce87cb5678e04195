package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Refused authentication is audited when the token names a known identity
// (a JWT signed with the server's secret but expired): action
// "authenticate", outcome UNAUTHENTICATED, sampled like RATE_LIMITED. A
// token that names no one (a bad signature, an unknown key) is not.

// expiredJWT is a JWT of sub@acme signed with the test secret, expired an
// hour ago.
func expiredJWT(t testing.TB, sub string) string {
	return authMintJWT(t, jwtSecret, jwt.MapClaims{
		"sub": sub, "workspace": "acme", "scopes": []string{"admin"},
		"exp": time.Now().Add(-time.Hour).Unix(),
	})
}

// authRefusals lists acme's "authenticate" records of identity.
func authRefusals(t testing.TB, ts *testServer, identity string) []auditRecord {
	t.Helper()
	return auditOf(t, ts, adminToken, "&action=authenticate&identity="+url.QueryEscape(identity))
}

// waitAuthRefusals waits until identity has at least n "authenticate"
// records (they are written without waiting for their fsync).
func waitAuthRefusals(t testing.TB, ts *testServer, identity string, n int) []auditRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := authRefusals(t, ts, identity)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantAuthRefusal checks recs is one UNAUTHENTICATED authenticate record of
// identity@acme over transport.
func wantAuthRefusal(t testing.TB, recs []auditRecord, identity, transport string) {
	t.Helper()
	if len(recs) != 1 {
		t.Fatalf("%d authenticate records of %s, want 1: %+v", len(recs), identity, recs)
	}
	r := recs[0]
	if r.Identity != identity || r.Workspace != "acme" || r.Transport != transport ||
		r.Action != "authenticate" || r.Outcome != "UNAUTHENTICATED" || r.Target != "" {
		t.Fatalf("record = %+v, want %s@acme over %s, authenticate, UNAUTHENTICATED", r, identity, transport)
	}
	if r.RemoteAddr != "127.0.0.1" {
		t.Errorf("remote_addr = %q, want 127.0.0.1", r.RemoteAddr)
	}
}

func TestAuditUnauthenticatedExpiredJWT(t *testing.T) {
	ts := startServer(t, "")

	t.Run("http", func(t *testing.T) {
		r := httpDo(t, ts, "GET", "/api/v1/workflows", expiredJWT(t, "exp-http"), nil)
		r.expectStatus(t, http.StatusUnauthorized)
		wantAuthRefusal(t, waitAuthRefusals(t, ts, "exp-http", 1), "exp-http", "http")
	})
	t.Run("upgrade", func(t *testing.T) {
		conn, resp, err := authDial(t, ts.url("/api/v1/socket"), http.Header{"Authorization": {"Bearer " + expiredJWT(t, "exp-upgrade")}}, nil)
		authExpect401(t, conn, resp, err)
		wantAuthRefusal(t, waitAuthRefusals(t, ts, "exp-upgrade", 1), "exp-upgrade", "ws")
	})
	t.Run("in_band", func(t *testing.T) {
		conn, resp, err := authDial(t, ts.url("/api/v1/socket"), nil, nil)
		if err != nil {
			t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
		}
		c := &client{t: t, conn: conn}
		c.send(map[string]any{"type": "auth", "token": expiredJWT(t, "exp-inband")})
		authExpectRefusedInBand(t, c)
		wantAuthRefusal(t, waitAuthRefusals(t, ts, "exp-inband", 1), "exp-inband", "ws")
	})
}

func TestAuditUnauthenticatedUnknownTokenNotRecorded(t *testing.T) {
	ts := startServer(t, "")
	forged := authMintJWT(t, "not-the-secret-not-the-secret-0123456789", jwt.MapClaims{
		"sub": "mallory", "workspace": "acme", "scopes": []string{"admin"},
		"exp": time.Now().Add(-time.Hour).Unix(),
	})
	for _, tok := range []string{forged, "tok-no-such-key"} {
		httpDo(t, ts, "GET", "/api/v1/workflows", tok, nil).expectStatus(t, http.StatusUnauthorized)
		conn, resp, err := authDial(t, ts.url("/api/v1/socket"), http.Header{"Authorization": {"Bearer " + tok}}, nil)
		authExpect401(t, conn, resp, err)
		conn, resp, err = authDial(t, ts.url("/api/v1/socket"), nil, nil)
		if err != nil {
			t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
		}
		c := &client{t: t, conn: conn}
		c.send(map[string]any{"type": "auth", "token": tok})
		authExpectRefusedInBand(t, c)
	}
	// A recorded refusal after them: once it is listed, whatever came
	// before it would be too.
	httpDo(t, ts, "GET", "/api/v1/workflows", expiredJWT(t, "marker"), nil).expectStatus(t, http.StatusUnauthorized)
	waitAuthRefusals(t, ts, "marker", 1)
	for _, r := range auditOf(t, ts, adminToken, "&action=authenticate") {
		if r.Identity != "marker" {
			t.Errorf("refusal of a token naming no known identity was recorded: %+v", r)
		}
	}
}

func TestAuditUnauthenticatedFloodSampled(t *testing.T) {
	ts := startServer(t, "")
	tok := expiredJWT(t, "exp-flood")
	began := time.Now()
	for i := range 20 {
		if i%2 == 0 {
			httpDo(t, ts, "GET", "/api/v1/workflows", tok, nil).expectStatus(t, http.StatusUnauthorized)
		} else {
			conn, resp, err := authDial(t, ts.url("/api/v1/socket?token="+url.QueryEscape(tok)), nil, nil)
			authExpect401(t, conn, resp, err)
		}
	}
	elapsed := time.Since(began)
	httpDo(t, ts, "GET", "/api/v1/workflows", expiredJWT(t, "marker"), nil).expectStatus(t, http.StatusUnauthorized)
	waitAuthRefusals(t, ts, "marker", 1)
	got := authRefusals(t, ts, "exp-flood")
	// At most one record per identity per second (two if the flood
	// straddles a second's boundary of the sampling).
	limit := 2
	if elapsed > time.Second {
		limit = int(elapsed/time.Second) + 2
		t.Logf("the flood took %v; allowing %d records", elapsed, limit)
	}
	if len(got) < 1 || len(got) > limit {
		t.Fatalf("a flood of 20 expired attempts left %d records, want 1-%d: %s", len(got), limit, fmt.Sprint(got))
	}
	for _, r := range got {
		if r.Outcome != "UNAUTHENTICATED" || r.Action != "authenticate" || r.Workspace != "acme" {
			t.Fatalf("record = %+v", r)
		}
	}
}
