package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	weft "github.com/weft-run/weft"
)

// MaxTokenBytes bounds the tokens Authenticate looks at. Real keys and JWTs
// are far shorter; the bound keeps a hostile client from making the server
// hash or base64-decode megabytes per attempt.
const MaxTokenBytes = 8 << 10

// MinJWTSecretBytes is the shortest HS256 secret New accepts: RFC 7518
// section 3.2 asks for a key at least as long as the hash output (256
// bits), and a short or guessable secret lets anyone mint tokens offline.
const MinJWTSecretBytes = 32

// Messages sent to clients. One message covers every way a presented token
// can be wrong, so a client learns nothing about which check failed (an
// expired JWT is refused like a forged one, PROTOCOL section 2).
const (
	msgMissing = "missing token"
	msgInvalid = "invalid or expired token"
)

// Options configure an Authenticator.
type Options struct {
	KeysFile  string           // path of a JSON keys file; "" = none
	JWTSecret []byte           // HS256 secret; nil or empty = JWTs not accepted
	Now       func() time.Time // nil = time.Now (tests inject)
}

// Authenticator resolves tokens to identities, from a keys file and/or
// HS256 JWTs. It is safe for concurrent use; Reload may run at any time.
type Authenticator struct {
	keysFile string
	secret   []byte
	now      func() time.Time
	parser   *jwt.Parser // immutable after New, so shared by all goroutines

	// keys is swapped whole by Reload, so Authenticate never sees a
	// half-loaded set and never takes a lock.
	keys     atomic.Pointer[keySet]
	reloadMu sync.Mutex // serialises Reload so two reads cannot race to store
}

// keySet maps the SHA-256 of a token to what it grants. Keying by the hash
// rather than the token means map lookup timing depends on a digest the
// client cannot steer, not on how many leading bytes of a real token it
// guessed.
type keySet map[[sha256.Size]byte]weft.Identity

// New builds an Authenticator and loads opts.KeysFile, if any. An
// Authenticator with neither keys file nor secret refuses every token; that
// is allowed (closed, never open) but is almost always a configuration
// mistake the caller should catch.
//
// A JWT secret shorter than MinJWTSecretBytes is refused.
func New(opts Options) (*Authenticator, error) {
	if n := len(opts.JWTSecret); n > 0 && n < MinJWTSecretBytes {
		return nil, fmt.Errorf("auth: the JWT secret is %d bytes; HS256 needs at least %d random bytes (e.g. openssl rand -hex 32)", n, MinJWTSecretBytes)
	}
	a := &Authenticator{
		keysFile: opts.KeysFile,
		secret:   slices.Clone(opts.JWTSecret), // the caller may reuse its buffer
		now:      opts.Now,
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(a.now),
	)
	ks := keySet{}
	if a.keysFile != "" {
		var err error
		if ks, err = loadKeysFile(a.keysFile); err != nil {
			return nil, err
		}
	}
	a.keys.Store(&ks)
	return a, nil
}

// KeysFile returns the path the keys are read from ("" if none).
func (a *Authenticator) KeysFile() string { return a.keysFile }

// Reload re-reads the keys file. The new keys replace the old ones all at
// once; on any error the old keys stay in force and the error is returned,
// so a half-edited file never locks everybody out. Without a keys file it
// does nothing.
func (a *Authenticator) Reload() error {
	if a.keysFile == "" {
		return nil
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	ks, err := loadKeysFile(a.keysFile)
	if err != nil {
		return fmt.Errorf("reload kept the previous keys: %w", err)
	}
	a.keys.Store(&ks)
	return nil
}

// Authenticate resolves token to an identity. Every failure is a
// *weft.Error with CodeUnauthenticated whose Message is safe to send and
// never contains the token; Err, for logs, says which check failed.
func (a *Authenticator) Authenticate(token string) (weft.Identity, error) {
	if token == "" {
		return weft.Identity{}, weft.Errorf(weft.CodeUnauthenticated, msgMissing)
	}
	if len(token) > MaxTokenBytes {
		return weft.Identity{}, unauthenticated(errors.New("token longer than MaxTokenBytes"))
	}
	// Keys first: an exact match on a secret is unambiguous, and it lets a
	// keys file hold tokens that happen to contain two dots.
	if id, ok := a.lookupKey(token); ok {
		return id, nil
	}
	if len(a.secret) > 0 && looksLikeJWT(token) {
		id, err := a.verifyJWT(token)
		if err != nil {
			return weft.Identity{}, unauthenticated(err)
		}
		return id, nil
	}
	return weft.Identity{}, unauthenticated(errors.New("no such key"))
}

func (a *Authenticator) lookupKey(token string) (weft.Identity, bool) {
	// The map holds digests, so no byte-wise comparison of secrets remains
	// here: equal digests are the match (JWT signatures are compared by the
	// jwt package with hmac.Equal, which is constant time).
	id, ok := (*a.keys.Load())[sha256.Sum256([]byte(token))]
	if !ok {
		return weft.Identity{}, false
	}
	return cloneIdentity(id), true
}

// cloneIdentity copies the scopes so a caller appending to or editing the
// slice cannot change what the stored key grants.
func cloneIdentity(id weft.Identity) weft.Identity {
	id.Scopes = slices.Clone(id.Scopes)
	return id
}

func unauthenticated(cause error) *weft.Error {
	return &weft.Error{Code: weft.CodeUnauthenticated, Message: msgInvalid, Err: cause}
}

// looksLikeJWT reports whether token has the compact JWS shape
// header.payload.signature with three non-empty parts.
func looksLikeJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

// knownScope reports whether s is one of weft.KnownScopes.
func knownScope(s weft.Scope) bool { return slices.Contains(weft.KnownScopes, s) }

// blank reports whether s is empty or only white space, which the keys file
// and JWT checks treat as missing.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
