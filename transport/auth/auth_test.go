package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	weft "github.com/weft-run/weft"
	"github.com/weft-run/weft/transport/auth"
)

const aliceKeys = `{"keys":[
  {"token":"alice-secret-token","identity":"alice","workspace":"acme","scopes":["workflows:start","executions:read"]},
  {"token":"bob-secret-token","identity":"bob","workspace":"other","scopes":["admin"]}
]}`

// writeFile writes content to name in dir and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile swaps content in with a rename, as an operator's editor or a
// config tool should, so a concurrent Reload never reads half a file.
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}

func newAuth(t testing.TB, keys string) (*auth.Authenticator, string) {
	t.Helper()
	path := writeFile(t, t.TempDir(), "keys.json", keys)
	a, err := auth.New(auth.Options{KeysFile: path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, path
}

// wantUnauthenticated checks err is the client-safe refusal and does not
// leak token.
func wantUnauthenticated(t testing.TB, err error, token string) {
	t.Helper()
	var we *weft.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *weft.Error", err, err)
	}
	if we.Code != weft.CodeUnauthenticated {
		t.Fatalf("code = %s, want UNAUTHENTICATED", we.Code)
	}
	if len(token) >= 4 && (strings.Contains(we.Message, token) || strings.Contains(we.Error(), token)) {
		t.Fatalf("error %q echoes the token", we.Error())
	}
}

func TestNewKeysFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string // "" = valid
	}{
		{"valid", aliceKeys, ""},
		{"empty list", `{"keys":[]}`, ""},
		{"no scopes", `{"keys":[{"token":"t1","identity":"a","workspace":"w"}]}`, ""},
		{"bad JSON", `{"keys":[{"token":"t1",}]}`, "invalid JSON at line 1"},
		{"bad JSON line", "{\"keys\":[\n{\"token\":\"t1\"\n\"identity\":\"a\"}]}", "line 3"},
		{"empty file", ``, "file is empty"},
		{"trailing data", `{"keys":[]} {}`, "data after"},
		{"wrong type", `{"keys":[{"token":"t1","identity":"a","workspace":"w","scopes":"admin"}]}`, "invalid JSON"},
		{"unknown field", `{"keys":[{"token":"t1","identity":"a","workspace":"w","scope":["admin"]}]}`, "unknown field"},
		{"unknown scope", `{"keys":[{"token":"t1","identity":"a","workspace":"w","scopes":["workflows:fly"]}]}`, `unknown scope "workflows:fly"`},
		{"empty token", `{"keys":[{"token":"","identity":"a","workspace":"w","scopes":["admin"]}]}`, "key 0 (identity \"a\"): empty token"},
		{"space in token", `{"keys":[{"token":"t1 ","identity":"a","workspace":"w"}]}`, "white space"},
		{"missing identity", `{"keys":[{"token":"t1","workspace":"w"}]}`, "missing identity"},
		{"blank workspace", `{"keys":[{"token":"t1","identity":"a","workspace":"  "}]}`, "missing workspace"},
		{"duplicate token", `{"keys":[{"token":"dup-secret","identity":"a","workspace":"w"},{"token":"dup-secret","identity":"b","workspace":"w"}]}`, "key 1 (identity \"b\"): same token as key 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "keys.json", tt.content)
			_, err := auth.New(auth.Options{KeysFile: path})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "dup-secret") {
				t.Errorf("error %q echoes a token", err)
			}
		})
	}
}

func TestNewMissingFile(t *testing.T) {
	_, err := auth.New(auth.Options{KeysFile: filepath.Join(t.TempDir(), "nope.json")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("New error = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestAuthenticateKeys(t *testing.T) {
	a, _ := newAuth(t, aliceKeys)
	tests := []struct {
		name  string
		token string
		want  *weft.Identity // nil = refused
	}{
		{"alice", "alice-secret-token", &weft.Identity{Name: "alice", Workspace: "acme",
			Scopes: []weft.Scope{weft.ScopeWorkflowsStart, weft.ScopeExecutionsRead}}},
		{"bob", "bob-secret-token", &weft.Identity{Name: "bob", Workspace: "other",
			Scopes: []weft.Scope{weft.ScopeAdmin}}},
		{"wrong", "alice-secret-tokem", nil},
		{"prefix", "alice-secret", nil},
		{"padded", " alice-secret-token", nil},
		{"empty", "", nil},
		{"jwt shaped without secret", "a.b.c", nil},
		{"huge", strings.Repeat("x", auth.MaxTokenBytes+1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(tt.token)
			if tt.want == nil {
				wantUnauthenticated(t, err, tt.token)
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.Name != tt.want.Name || got.Workspace != tt.want.Workspace || !slices.Equal(got.Scopes, tt.want.Scopes) {
				t.Fatalf("got %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestAuthenticateReturnsCopy(t *testing.T) {
	a, _ := newAuth(t, aliceKeys)
	id, _ := a.Authenticate("alice-secret-token")
	id.Scopes[0] = weft.ScopeAdmin
	again, _ := a.Authenticate("alice-secret-token")
	if again.Can(weft.ScopeAdmin) {
		t.Fatal("editing a returned identity changed the stored key")
	}
}

func TestKeysTokenWithDotsAndSecret(t *testing.T) {
	// A keys-file token shaped like a JWT must still work when JWTs are on.
	path := writeFile(t, t.TempDir(), "keys.json",
		`{"keys":[{"token":"part1.part2.part3","identity":"a","workspace":"w"}]}`)
	a, err := auth.New(auth.Options{KeysFile: path, JWTSecret: []byte("s3cret-s3cret-s3cret-s3cret-s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate("part1.part2.part3")
	if err != nil || id.Name != "a" || id.Scopes == nil {
		t.Fatalf("got %+v, %v", id, err)
	}
}

func TestNoSources(t *testing.T) {
	a, err := auth.New(auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.KeysFile() != "" {
		t.Errorf("KeysFile() = %q", a.KeysFile())
	}
	if err := a.Reload(); err != nil {
		t.Errorf("Reload without a keys file: %v", err)
	}
	_, err = a.Authenticate("anything")
	wantUnauthenticated(t, err, "anything")
}

func TestReload(t *testing.T) {
	a, path := newAuth(t, aliceKeys)
	if a.KeysFile() != path {
		t.Fatalf("KeysFile() = %q, want %q", a.KeysFile(), path)
	}
	replaceFile(t, path, `{"keys":[{"token":"carol-token","identity":"carol","workspace":"acme","scopes":["rooms:join"]}]}`)
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, err := a.Authenticate("alice-secret-token"); err == nil {
		t.Fatal("removed key still authenticates")
	}
	if id, err := a.Authenticate("carol-token"); err != nil || id.Name != "carol" {
		t.Fatalf("new key: %+v, %v", id, err)
	}

	for _, broken := range []string{`{"keys":[`, `{"keys":[{"token":"x","identity":"x","workspace":"x","scopes":["nope"]}]}`} {
		replaceFile(t, path, broken)
		if err := a.Reload(); err == nil {
			t.Fatalf("Reload of %q succeeded", broken)
		}
		if id, err := a.Authenticate("carol-token"); err != nil || id.Name != "carol" {
			t.Fatalf("after a failed Reload the old keys are gone: %+v, %v", id, err)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload of a missing file = %v", err)
	}
	if _, err := a.Authenticate("carol-token"); err != nil {
		t.Fatalf("after a failed Reload the old keys are gone: %v", err)
	}
}

func TestConcurrentReloadAuthenticate(t *testing.T) {
	// Both versions of the file hold "stable-token"; it must authenticate
	// on every attempt, which fails if a reader ever saw a partial set.
	const v1 = `{"keys":[{"token":"stable-token","identity":"s","workspace":"w"},{"token":"v1-token","identity":"one","workspace":"w"}]}`
	const v2 = `{"keys":[{"token":"v2-token","identity":"two","workspace":"w"},{"token":"stable-token","identity":"s","workspace":"w"}]}`
	a, path := newAuth(t, v1)
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := a.Authenticate("stable-token"); err != nil {
					t.Errorf("stable token refused during reload: %v", err)
					return
				}
				_, _ = a.Authenticate("v1-token")
			}
		})
	}
	// One goroutine rewrites the file and reloads; another only reloads, so
	// two Reloads also overlap.
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline); i++ {
			replaceFile(t, path, []string{v1, v2}[i%2])
			if err := a.Reload(); err != nil {
				t.Errorf("Reload: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		for time.Now().Before(deadline) {
			if err := a.Reload(); err != nil {
				t.Errorf("Reload: %v", err)
				return
			}
		}
	})
	wg.Wait()
}
