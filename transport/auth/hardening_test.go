package auth_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-run/weft/transport/auth"
)

// A JWT secret shorter than 32 bytes is refused at construction, with an
// error that says how long it must be; 32 bytes and more are accepted.
func TestShortJWTSecretRefused(t *testing.T) {
	for _, secret := range []string{"x", "test-secret", strings.Repeat("k", auth.MinJWTSecretBytes-1)} {
		_, err := auth.New(auth.Options{JWTSecret: []byte(secret)})
		if err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("secret of %d bytes: err = %v, want a refusal naming 32 bytes", len(secret), err)
		}
		if err != nil && len(secret) > 8 && strings.Contains(err.Error(), secret) {
			t.Errorf("the refusal shows the secret: %v", err)
		}
	}
	if _, err := auth.New(auth.Options{JWTSecret: []byte(strings.Repeat("k", auth.MinJWTSecretBytes))}); err != nil {
		t.Fatalf("a 32-byte secret: %v", err)
	}
	if _, err := auth.New(auth.Options{}); err != nil {
		t.Fatalf("no secret (JWTs off): %v", err)
	}
}

// A keys file its group or others can read gets a warning naming the
// mode; 0600 gets none.
func TestKeysFileModeWarning(t *testing.T) {
	path := writeFile(t, t.TempDir(), "keys.json", `{"keys":[]}`)
	for mode, warn := range map[os.FileMode]bool{0o600: false, 0o400: false, 0o640: true, 0o604: true, 0o660: true, 0o644: true} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		got := auth.KeysFileModeWarning(path)
		if (got != "") != warn {
			t.Errorf("mode %04o: warning %q, want one: %v", mode, got, warn)
		}
		if warn && !strings.Contains(got, "chmod 600") {
			t.Errorf("mode %04o: warning %q does not say how to fix it", mode, got)
		}
	}
	if got := auth.KeysFileModeWarning(""); got != "" {
		t.Errorf("no keys file: %q", got)
	}
}

// The error of a refused token, which servers log, never holds the token,
// whichever check refused it.
func TestRefusalNeverHoldsToken(t *testing.T) {
	path := writeFile(t, t.TempDir(), "keys.json", `{"keys":[{"token":"tok-real","identity":"a","workspace":"w"}]}`)
	a, err := auth.New(auth.Options{KeysFile: path, JWTSecret: testSecret, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("z", 40)), jwt.MapClaims{"sub": "x", "workspace": "w", "exp": testNow.Unix() + 60})
	expired := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "x", "workspace": "w", "exp": testNow.Unix() - 60})
	unknownScope := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "x", "workspace": "w", "exp": testNow.Unix() + 60, "scopes": []string{"guess-secret-scope"}})
	for _, tok := range []string{"tok-guess-0123456789", "tok-rea", forged, expired, unknownScope, "a.b.c", strings.Repeat("q", auth.MaxTokenBytes+1)} {
		_, err := a.Authenticate(tok)
		if err == nil {
			t.Fatalf("token %.20q accepted", tok)
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("the error of a refused token holds it: %v", err)
		}
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 8 && strings.Contains(err.Error(), part) {
				t.Errorf("the error of a refused token holds a part of it (%.20q): %v", part, err)
			}
		}
	}
}
