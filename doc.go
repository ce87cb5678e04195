// Package weft holds the domain vocabulary shared by every part of weft:
// identities and scopes, execution statuses, and the one error type whose
// codes are the wire protocol's (PROTOCOL.md section 7).
//
// It imports nothing else from weft, so every package may import it.
package weft
