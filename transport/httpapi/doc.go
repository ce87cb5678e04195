// Package httpapi is weft's HTTP resource plane (PROTOCOL.md section 8):
// one-shot starts (webhooks), snapshots, execution lists, event history as
// JSON lines or a live Server-Sent Events stream, cancel and signal,
// schedules.
//
// Like the WebSocket adapter it only translates: it decodes a request,
// calls the same actors.Service with the caller's identity and encodes the
// answer. Scopes, workspace isolation, validation and idempotency are
// checked by the service, once for both transports. The token is the same
// (Authorization: Bearer), and so is the error body
// {"error":{"code","message","retryable"}}; Status maps each weft.Code to
// its HTTP status.
//
// Routes are registered on a Mux, an http.ServeMux (Go 1.22 method and
// wildcard patterns, no router library) that remembers what it serves, so
// the OpenAPI document in package spec can be checked against it.
package httpapi
