package auth

import (
	"net/http"
	"strings"
)

// Protocol is the WebSocket subprotocol of PROTOCOL v1.
const Protocol = "weft.v1"

// APIKeyProtocolPrefix starts a subprotocol entry carrying a token
// (PROTOCOL section 2, method 3): "x-api-key.<token>".
const APIKeyProtocolPrefix = "x-api-key."

// Credentials.Method values, one per way of presenting a token at upgrade.
const (
	MethodBearer      = "bearer"      // Authorization: Bearer <token>
	MethodQuery       = "query"       // ?token=<token>
	MethodSubprotocol = "subprotocol" // Sec-WebSocket-Protocol: x-api-key.<token>
)

// Credentials are a token found on a request and how it came.
type Credentials struct {
	Token  string
	Method string // MethodBearer, MethodQuery or MethodSubprotocol
	// Subprotocol is what the server must select in the upgrade answer
	// ("" if the client offered none that applies). It is set whatever the
	// method, because a client may send a Bearer header and still offer
	// weft.v1.
	Subprotocol string
}

// FromRequest finds the token of PROTOCOL section 2 methods 1-3, in that
// order of precedence: Authorization header, then ?token=, then the
// x-api-key subprotocol. Only the first method present is used; a wrong
// token there is not rescued by a right one further down. ok is false when
// no method carries a non-empty token (method 4, in-band auth, is then the
// client's only way in); the returned Subprotocol is set even then, for the
// same reason as in SelectSubprotocol.
func FromRequest(r *http.Request) (Credentials, bool) {
	if r == nil {
		return Credentials{}, false
	}
	c := Credentials{Subprotocol: SelectSubprotocol(r)}
	if tok, ok := bearerToken(r.Header); ok {
		c.Token, c.Method = tok, MethodBearer
		return c, true
	}
	if r.URL != nil {
		if tok := r.URL.Query().Get("token"); tok != "" {
			c.Token, c.Method = tok, MethodQuery
			return c, true
		}
	}
	if entry, ok := apiKeyEntry(r.Header); ok {
		c.Token, c.Method = strings.TrimPrefix(entry, APIKeyProtocolPrefix), MethodSubprotocol
		return c, true
	}
	return c, false
}

// SelectSubprotocol returns the subprotocol the server must answer the
// upgrade with: weft.v1 if offered, else the x-api-key entry if offered,
// else "". Browsers fail a connection whose offered protocols get no answer,
// so a client that offered only "x-api-key.<token>" must get that back.
func SelectSubprotocol(r *http.Request) string {
	if r == nil {
		return ""
	}
	for _, p := range offeredProtocols(r.Header) {
		if p == Protocol {
			return Protocol
		}
	}
	entry, _ := apiKeyEntry(r.Header)
	return entry
}

// bearerToken reads "Authorization: Bearer <token>". The scheme is
// case-insensitive (RFC 9110 section 11.1); other schemes are ignored so a
// proxy's Basic credentials do not shadow a query or subprotocol token.
func bearerToken(h http.Header) (string, bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimSpace(rest)
	return tok, tok != ""
}

// apiKeyEntry returns the first offered "x-api-key.<token>" entry with a
// non-empty token. Subprotocol names are case-sensitive (RFC 6455
// section 4.1), so the prefix is matched exactly.
func apiKeyEntry(h http.Header) (string, bool) {
	for _, p := range offeredProtocols(h) {
		if len(p) > len(APIKeyProtocolPrefix) && strings.HasPrefix(p, APIKeyProtocolPrefix) {
			return p, true
		}
	}
	return "", false
}

// offeredProtocols splits every Sec-WebSocket-Protocol header line on
// commas, as clients may send one line or several.
func offeredProtocols(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(line, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
