package auth_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	weft "github.com/weft-run/weft"
	"github.com/weft-run/weft/transport/auth"
)

func TestEnsureKeysFile(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data", "nested")
	path, token, created, err := auth.EnsureKeysFile(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !created || path != filepath.Join(dataDir, "keys.json") {
		t.Fatalf("first call: path %q created %v", path, created)
	}
	if !strings.HasPrefix(token, "wft_") || len(token) != len("wft_")+64 {
		t.Fatalf("token %q: want wft_ and 64 hex digits", token)
	}
	if runtime.GOOS != "windows" {
		checkPerm(t, path, 0o600)
		checkPerm(t, dataDir, 0o700)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("data dir holds %v (%v), want only keys.json", entries, err)
	}

	a, err := auth.New(auth.Options{KeysFile: path})
	if err != nil {
		t.Fatalf("New on the created file: %v", err)
	}
	id, err := a.Authenticate(token)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "admin" || id.Workspace != "default" || !id.Can(weft.ScopeAdmin) {
		t.Fatalf("admin identity = %+v", id)
	}

	before, _ := os.ReadFile(path)
	path2, token2, created2, err := auth.EnsureKeysFile(dataDir)
	if err != nil || created2 || token2 != "" || path2 != path {
		t.Fatalf("second call = %q, %q, %v, %v; want reuse", path2, token2, created2, err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("second call rewrote the keys file")
	}
}

func TestEnsureKeysFileKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	want := `{"keys":[]}`
	writeFile(t, dir, "keys.json", want)
	_, token, created, err := auth.EnsureKeysFile(dir)
	if err != nil || created || token != "" {
		t.Fatalf("got %q, %v, %v", token, created, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "keys.json")); string(got) != want {
		t.Fatalf("existing file changed to %s", got)
	}
}

func TestEnsureKeysFileFreshTokens(t *testing.T) {
	_, t1, _, err1 := auth.EnsureKeysFile(t.TempDir())
	_, t2, _, err2 := auth.EnsureKeysFile(t.TempDir())
	if err1 != nil || err2 != nil || t1 == t2 {
		t.Fatalf("tokens %q %q (%v %v): want two different ones", t1, t2, err1, err2)
	}
}

func checkPerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}
