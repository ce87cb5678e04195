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
		return weft.Identity{}, fmt.Errorf("jwt: %w", err)
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
