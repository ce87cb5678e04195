package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	weft "github.com/weft-run/weft"
)

// KeysFileName is the name EnsureKeysFile gives the keys file in a data
// directory.
const KeysFileName = "keys.json"

// keysDoc is the keys file: {"keys":[{"token","identity","workspace","scopes"}]}.
type keysDoc struct {
	Keys []keyRecord `json:"keys"`
}

type keyRecord struct {
	Token     string       `json:"token"`
	Identity  string       `json:"identity"`
	Workspace string       `json:"workspace"`
	Scopes    []weft.Scope `json:"scopes"`
}

func loadKeysFile(path string) (keySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: keys file: %w", err)
	}
	ks, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("auth: keys file %s: %w", path, err)
	}
	return ks, nil
}

// parseKeys validates the whole document before returning anything, so a
// caller either gets every key or none. Errors name keys by position and
// identity, never by token: they end up in logs.
func parseKeys(data []byte) (keySet, error) {
	var doc keysDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	// A misspelt field ("scope") would otherwise load as a key with no
	// scopes and fail later with a confusing FORBIDDEN.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level object")
	}
	ks := make(keySet, len(doc.Keys))
	seen := make(map[[sha256.Size]byte]int, len(doc.Keys))
	for i, k := range doc.Keys {
		if err := checkRecord(k); err != nil {
			return nil, fmt.Errorf("key %d (identity %q): %w", i, k.Identity, err)
		}
		sum := sha256.Sum256([]byte(k.Token))
		if j, dup := seen[sum]; dup {
			return nil, fmt.Errorf("key %d (identity %q): same token as key %d", i, k.Identity, j)
		}
		seen[sum] = i
		if k.Scopes == nil {
			k.Scopes = []weft.Scope{} // so "scopes" is [] and not null on the wire
		}
		ks[sum] = weft.Identity{Name: k.Identity, Workspace: k.Workspace, Scopes: k.Scopes}
	}
	return ks, nil
}

func checkRecord(k keyRecord) error {
	switch {
	case k.Token == "":
		return errors.New("empty token")
	case strings.IndexFunc(k.Token, notPrintable) >= 0:
		// Such a token could not be sent in a header, query or subprotocol
		// as written, so it is almost certainly a copy-paste accident.
		return errors.New("token contains white space or control characters")
	case len(k.Token) > MaxTokenBytes:
		return fmt.Errorf("token longer than %d bytes", MaxTokenBytes)
	case blank(k.Identity):
		return errors.New("missing identity")
	case blank(k.Workspace):
		return errors.New("missing workspace")
	}
	for _, s := range k.Scopes {
		if !knownScope(s) {
			return fmt.Errorf("unknown scope %q", s)
		}
	}
	return nil
}

func notPrintable(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }

// jsonError turns a decoder error into one that points at a line, which is
// what someone fixing a hand-edited file needs.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at line %d: %w", lineOf(data, syn.Offset), err)
	case errors.As(err, &typ):
		return fmt.Errorf("invalid JSON at line %d: %w", lineOf(data, typ.Offset), err)
	case errors.Is(err, io.EOF):
		return errors.New("invalid JSON: file is empty")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func lineOf(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

// EnsureKeysFile makes sure dataDir holds a keys file, so a first start is
// never an open server. If <dataDir>/keys.json exists it is left alone and
// its path returned with created=false (it is not validated here; New does
// that). Otherwise dataDir is created (0700) and keys.json written (0600)
// with one fresh admin key (identity "admin", workspace "default"), whose
// token is returned so the caller can show it once.
func EnsureKeysFile(dataDir string) (path string, adminToken string, created bool, err error) {
	path = filepath.Join(dataDir, KeysFileName)
	if _, err := os.Stat(path); err == nil {
		return path, "", false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", false, fmt.Errorf("auth: keys file: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("auth: data dir: %w", err)
	}
	token, err := newToken()
	if err != nil {
		return "", "", false, err
	}
	data, err := json.MarshalIndent(keysDoc{Keys: []keyRecord{{
		Token: token, Identity: "admin", Workspace: "default",
		Scopes: []weft.Scope{weft.ScopeAdmin},
	}}}, "", "  ")
	if err != nil {
		return "", "", false, fmt.Errorf("auth: keys file: %w", err)
	}
	switch err := writeNew(path, append(data, '\n')); {
	case errors.Is(err, os.ErrExist):
		// Another process created it between Stat and now; its token is
		// the one in force, and ours was never valid.
		return path, "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("auth: keys file: %w", err)
	}
	return path, token, true, nil
}

// newToken returns "wft_" and 32 random bytes in hex: hex is safe in a
// header, a query and a subprotocol name, and selects whole on double-click.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	return "wft_" + hex.EncodeToString(b), nil
}

// writeNew creates path with data, failing with os.ErrExist if it exists.
// The content goes to a temporary file first and is hard-linked into place,
// so a crash never leaves a truncated keys.json that would block the next
// start; where hard links are unsupported it falls back to O_EXCL.
func writeNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// KeysFileModeWarning returns a warning when the keys file at path can be
// read or written by its group or by others (its tokens are secrets: 0600
// is right), or "" when its mode is fine or it cannot be checked (New and
// Reload report a missing file). Servers log it at start and on reload.
func KeysFileModeWarning(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Sprintf("keys file %s has mode %04o: its group or others may read it, and its tokens are secrets (chmod 600 %s)", path, mode, path)
	}
	return ""
}
