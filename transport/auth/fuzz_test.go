package auth_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	weft "github.com/weft-run/weft"
	"github.com/weft-run/weft/transport/auth"
)

func FuzzAuthenticate(f *testing.F) {
	a, _ := newAuth(f, aliceKeys)
	withJWT, err := auth.New(auth.Options{KeysFile: a.KeysFile(), JWTSecret: testSecret,
		Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	valid := []string{"alice-secret-token", "bob-secret-token"}
	for _, s := range []string{
		"", "a", "alice-secret-toke", "alice-secret-token\x00", "a.b.c", "..", "a..c",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		sign(f, jwt.SigningMethodHS256, []byte("wrong"), good(nil)),
		sign(f, jwt.SigningMethodHS512, testSecret, good(nil)),
		rawJWT(f, map[string]string{"alg": "none"}, good(nil), "eA"),
		strings.Repeat(".", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if slices.Contains(valid, token) {
			t.Skip()
		}
		for _, au := range []*auth.Authenticator{a, withJWT} {
			id, err := au.Authenticate(token)
			if err == nil {
				t.Fatalf("random token %q authenticated as %+v", token, id)
			}
			we, ok := err.(*weft.Error)
			if !ok || we.Code != weft.CodeUnauthenticated {
				t.Fatalf("error %v is not UNAUTHENTICATED", err)
			}
			if we.Message != "missing token" && we.Message != "invalid or expired token" {
				t.Fatalf("unexpected client message %q", we.Message)
			}
		}
	})
}

func FuzzFromRequest(f *testing.F) {
	f.Add("Bearer abc", "token=x", "weft.v1, x-api-key.y")
	f.Add("", "token=%zz&token=", "x-api-key.")
	f.Add("bearer", ";;;==&&", ",,, ,x-api-key.a b")
	f.Add("Basic Zm9v", "", "weft.v1")
	f.Fuzz(func(t *testing.T, authz, rawQuery, protocols string) {
		r := &http.Request{
			URL:    &url.URL{Path: "/ws", RawQuery: rawQuery},
			Header: http.Header{},
		}
		r.Header.Set("Authorization", authz)
		r.Header.Set("Sec-WebSocket-Protocol", protocols)
		c, ok := auth.FromRequest(r)
		if ok != (c.Token != "") {
			t.Fatalf("ok=%v with token %q", ok, c.Token)
		}
		if ok && c.Method != auth.MethodBearer && c.Method != auth.MethodQuery && c.Method != auth.MethodSubprotocol {
			t.Fatalf("unknown method %q", c.Method)
		}
		if !ok && c.Method != "" {
			t.Fatalf("method %q without credentials", c.Method)
		}
		sel := auth.SelectSubprotocol(r)
		if c.Subprotocol != sel {
			t.Fatalf("Credentials.Subprotocol %q != SelectSubprotocol %q", c.Subprotocol, sel)
		}
		if sel != "" && sel != auth.Protocol && !strings.HasPrefix(sel, auth.APIKeyProtocolPrefix) {
			t.Fatalf("selected %q, which was not a weft protocol", sel)
		}
		if sel != "" && !strings.Contains(protocols, sel) {
			t.Fatalf("selected %q, which the client did not offer", sel)
		}
	})
}
