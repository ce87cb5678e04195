// Package auth turns a token into a weft.Identity (PROTOCOL.md section 2)
// for both transports.
//
// It provides:
//
//   - Authenticator, which accepts tokens from a JSON keys file
//     ({"keys":[{"token","identity","workspace","scopes"}]}) and/or HS256
//     JWTs carrying sub, workspace, scopes and a required exp. Every failure
//     is a *weft.Error with CodeUnauthenticated whose message never echoes
//     the token; an expired token is refused like a wrong one.
//   - FromRequest and SelectSubprotocol, which find a token on an HTTP or
//     WebSocket upgrade request (Bearer header, ?token=, or the
//     "x-api-key.<token>" subprotocol, in that precedence) and name the
//     subprotocol the upgrade answer must select. In-band auth (method 4)
//     belongs to the WebSocket transport, which calls Authenticate itself.
//   - EnsureKeysFile, which gives a first start a keys file with one admin
//     key instead of an open server.
//
// Keys are held by the SHA-256 of their token, so lookup time says nothing
// about how close a guess was.
//
// Concurrency: an Authenticator is safe for concurrent use once New returns.
// Authenticate takes no lock; Reload builds a complete new key set and swaps
// it in atomically, so a request sees either the old keys or the new ones,
// never a mix, and a broken file leaves the old keys in force. Concurrent
// Reload calls are serialised. Options are copied by New; changing the
// caller's JWTSecret buffer afterwards has no effect. The Now function must
// itself be safe for concurrent use.
package auth
