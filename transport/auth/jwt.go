package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	weft "github.com/weft-run/weft"
)

// claims are the JWT claims weft reads: sub (identity), workspace, scopes,
// and the registered time claims the parser checks (exp required, nbf and
// iat honoured when present).
type claims struct {
	jwt.RegisteredClaims
	Workspace string    `json:"workspace"`
	Scopes    scopeList `json:"scopes"`
}

// scopeList accepts scopes as a JSON array of strings or, as OAuth 2.0
// (RFC 8693 "scope") issuers write them, one space-separated string.
type scopeList []weft.Scope

func (l *scopeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = nil
		for _, s := range strings.Fields(one) {
			*l = append(*l, weft.Scope(s))
		}
		return nil
	}
	var many []weft.Scope
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("scopes: want an array of strings or a space-separated string")
	}
	*l = many
	return nil
}

// verifyJWT checks signature, algorithm and time claims (via a.parser),
// then the weft claims. The returned error is for logs only.
func (a *Authenticator) verifyJWT(token string) (weft.Identity, error) {
	var c claims
	_, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refuses other algorithms; checking the
		// concrete method too means a future option change cannot let an
		// RSA or "none" token reach the HMAC key.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return a.secret, nil
	})
	if err != nil {
		err = fmt.Errorf("jwt: %w", err)
		if outOfWindow(err) && !blank(c.Subject) && !blank(c.Workspace) {
			// The signature is good, so the claims are ours: the audit
			// may name who presented it (never what it grants).
			return weft.Identity{}, &Refusal{Identity: weft.Identity{Name: c.Subject, Workspace: c.Workspace}, Err: err}
		}
		return weft.Identity{}, err
	}
	switch {
	case blank(c.Subject):
		return weft.Identity{}, errors.New("jwt: missing sub")
	case blank(c.Workspace):
		return weft.Identity{}, errors.New("jwt: missing workspace")
	}
	for _, s := range c.Scopes {
		if !knownScope(s) {
			return weft.Identity{}, fmt.Errorf("jwt: unknown scope %q", s)
		}
	}
	scopes := []weft.Scope(c.Scopes)
	if scopes == nil {
		scopes = []weft.Scope{} // so "scopes" is [] and not null on the wire
	}
	return weft.Identity{Name: c.Subject, Workspace: c.Workspace, Scopes: scopes}, nil
}

// Refusal is the cause (in the *weft.Error's Err) of a refused JWT whose
// signature is good but which is outside its validity window: expired, or
// not valid yet. Identity is the one its claims name, without scopes (it
// grants nothing); it lets the audit trail record who was refused. A token
// with a bad signature, another algorithm or malformed claims never gets
// one, and the token itself is never kept.
type Refusal struct {
	Identity weft.Identity
	Err      error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// RefusedIdentity returns the identity named by a token that Authenticate
// refused only for its time claims (see Refusal); ok is false for every
// other refusal (unknown token, bad signature, missing token...).
func RefusedIdentity(err error) (weft.Identity, bool) {
	var r *Refusal
	if !errors.As(err, &r) || r.Identity.Workspace == "" {
		return weft.Identity{}, false
	}
	return r.Identity, true
}

// outOfWindow reports whether a parse error says the signature was
// verified and the claims failed only on time (exp, nbf, or an iat in the
// future alongside them).
func outOfWindow(err error) bool {
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) ||
		errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable) ||
		errors.Is(err, jwt.ErrTokenMalformed) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		return false
	}
	return errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet)
}
