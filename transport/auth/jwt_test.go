package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	weft "github.com/weft-run/weft"
	"github.com/weft-run/weft/transport/auth"
)

var (
	testSecret = []byte("test-secret-of-some-length-0123456789")
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawJWT assembles a token by hand, for headers no signer would produce.
func rawJWT(t testing.TB, header, claims any, sig string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + sig
}

// good returns valid claims; tests delete or override entries.
func good(over map[string]any, drop ...string) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":       "alice",
		"workspace": "acme",
		"scopes":    []string{"workflows:start", "executions:read"},
		"exp":       testNow.Add(time.Hour).Unix(),
		"iat":       testNow.Add(-time.Minute).Unix(),
	}
	for k, v := range over {
		c[k] = v
	}
	for _, k := range drop {
		delete(c, k)
	}
	return c
}

func TestAuthenticateJWT(t *testing.T) {
	a, err := auth.New(auth.Options{JWTSecret: testSecret, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	hs256 := jwt.SigningMethodHS256
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, good(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	aliceScopes := []weft.Scope{weft.ScopeWorkflowsStart, weft.ScopeExecutionsRead}

	tests := []struct {
		name   string
		token  string
		scopes []weft.Scope // nil = refused
	}{
		{"valid", sign(t, hs256, testSecret, good(nil)), aliceScopes},
		{"scopes as string", sign(t, hs256, testSecret, good(map[string]any{"scopes": " workflows:start  executions:read"})), aliceScopes},
		{"no scopes", sign(t, hs256, testSecret, good(nil, "scopes")), []weft.Scope{}},
		{"nbf past", sign(t, hs256, testSecret, good(map[string]any{"nbf": testNow.Add(-time.Second).Unix()})), aliceScopes},
		{"no iat", sign(t, hs256, testSecret, good(nil, "iat")), aliceScopes},

		{"expired", sign(t, hs256, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), nil},
		{"no exp", sign(t, hs256, testSecret, good(nil, "exp")), nil},
		{"nbf future", sign(t, hs256, testSecret, good(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), nil},
		{"iat future", sign(t, hs256, testSecret, good(map[string]any{"iat": testNow.Add(time.Minute).Unix()})), nil},
		{"wrong secret", sign(t, hs256, []byte("another-secret"), good(nil)), nil},
		{"HS512 same secret", sign(t, jwt.SigningMethodHS512, testSecret, good(nil)), nil},
		{"HS384 same secret", sign(t, jwt.SigningMethodHS384, testSecret, good(nil)), nil},
		{"alg none", noneTok, nil},
		{"alg none with signature", rawJWT(t, map[string]string{"alg": "none", "typ": "JWT"}, good(nil), "c2ln"), nil},
		{"alg None", rawJWT(t, map[string]string{"alg": "None"}, good(nil), "c2ln"), nil},
		{"missing sub", sign(t, hs256, testSecret, good(nil, "sub")), nil},
		{"blank sub", sign(t, hs256, testSecret, good(map[string]any{"sub": " "})), nil},
		{"numeric sub", sign(t, hs256, testSecret, good(map[string]any{"sub": 42})), nil},
		{"missing workspace", sign(t, hs256, testSecret, good(nil, "workspace")), nil},
		{"unknown scope", sign(t, hs256, testSecret, good(map[string]any{"scopes": []string{"admin", "root"}})), nil},
		{"unknown scope in string", sign(t, hs256, testSecret, good(map[string]any{"scopes": "admin root"})), nil},
		{"scopes wrong type", sign(t, hs256, testSecret, good(map[string]any{"scopes": 7})), nil},
		{"tampered payload", tamper(t, sign(t, hs256, testSecret, good(nil))), nil},
		{"garbage three parts", "aaa.bbb.ccc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(tt.token)
			if tt.scopes == nil {
				wantUnauthenticated(t, err, tt.token)
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.Name != "alice" || id.Workspace != "acme" || !slices.Equal(id.Scopes, tt.scopes) || id.Scopes == nil {
				t.Fatalf("got %+v", id)
			}
		})
	}
}

// tamper swaps the payload for one granting admin, keeping the signature.
func tamper(t testing.TB, tok string) string {
	parts := strings.Split(tok, ".")
	forged := rawJWT(t, map[string]string{"alg": "HS256"}, good(map[string]any{"scopes": []string{"admin"}}), "")
	return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
}

func TestJWTNeedsSecret(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, testSecret, good(nil))
	for _, secret := range [][]byte{nil, {}} {
		a, err := auth.New(auth.Options{JWTSecret: secret, Now: func() time.Time { return testNow }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Authenticate(tok)
		wantUnauthenticated(t, err, tok)
	}
}

func TestJWTSecretCopied(t *testing.T) {
	secret := slices.Clone(testSecret)
	a, err := auth.New(auth.Options{JWTSecret: secret, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	clear(secret) // the caller reusing its buffer must not change the key
	if _, err := a.Authenticate(sign(t, jwt.SigningMethodHS256, testSecret, good(nil))); err != nil {
		t.Fatal(err)
	}
}

func TestJWTExpiryFollowsNow(t *testing.T) {
	now := testNow
	a, err := auth.New(auth.Options{JWTSecret: testSecret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, testSecret, good(nil))
	if _, err := a.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	now = testNow.Add(2 * time.Hour)
	_, err = a.Authenticate(tok)
	wantUnauthenticated(t, err, tok)
}

// TestJWTRefusedIdentity: a JWT refused only for its time claims, but
// whose signature is good, names its identity (for the audit trail); no
// other refusal does, and none carries the token or any scope.
func TestJWTRefusedIdentity(t *testing.T) {
	a, err := auth.New(auth.Options{JWTSecret: testSecret, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	hs256 := jwt.SigningMethodHS256
	tests := []struct {
		name  string
		token string
		named bool
	}{
		{"expired", sign(t, hs256, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), true},
		{"nbf future", sign(t, hs256, testSecret, good(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), true},
		{"expired and iat future", sign(t, hs256, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix(), "iat": testNow.Add(time.Minute).Unix()})), true},
		{"expired wrong secret", sign(t, hs256, []byte("another-secret-of-some-length-0123456789"), good(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), false},
		{"expired HS512 same secret", sign(t, jwt.SigningMethodHS512, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), false},
		{"expired tampered", tamper(t, sign(t, hs256, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix()}))), false},
		{"expired missing workspace", sign(t, hs256, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix()}, "workspace")), false},
		{"expired blank sub", sign(t, hs256, testSecret, good(map[string]any{"exp": testNow.Add(-time.Second).Unix(), "sub": " "})), false},
		{"no exp", sign(t, hs256, testSecret, good(nil, "exp")), false},
		{"iat future", sign(t, hs256, testSecret, good(map[string]any{"iat": testNow.Add(time.Minute).Unix()})), false},
		{"unknown scope", sign(t, hs256, testSecret, good(map[string]any{"scopes": []string{"root"}})), false},
		{"garbage", "aaa.bbb.ccc", false},
		{"opaque", "no-such-key", false},
		{"missing", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(tt.token)
			wantUnauthenticated(t, err, tt.token)
			id, ok := auth.RefusedIdentity(err)
			if ok != tt.named {
				t.Fatalf("RefusedIdentity ok = %v, want %v (err %v)", ok, tt.named, err)
			}
			if !ok {
				if id.Name != "" || id.Workspace != "" {
					t.Fatalf("refusal without identity returned %+v", id)
				}
				return
			}
			if id.Name != "alice" || id.Workspace != "acme" || id.Scopes != nil {
				t.Fatalf("refused identity = %+v, want alice@acme without scopes", id)
			}
		})
	}
	if _, ok := auth.RefusedIdentity(nil); ok {
		t.Fatal("RefusedIdentity(nil) named someone")
	}
}
