package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/weft-run/weft"
)

// Status is the HTTP status of a protocol error code (PROTOCOL.md
// section 8). Codes the section does not name: DUPLICATE_REQUEST_ID is 409
// (like CONFLICT), WS_CONNECTION_FAILED 502 (an outbound connection failed),
// any other or unknown code 500.
func Status(code weft.Code) int {
	switch code {
	case weft.CodeInvalidRequest:
		return http.StatusBadRequest
	case weft.CodeUnauthenticated:
		return http.StatusUnauthorized
	case weft.CodeForbidden:
		return http.StatusForbidden
	case weft.CodeUnknownService:
		return http.StatusNotFound
	case weft.CodeConflict, weft.CodeDuplicateRequestID:
		return http.StatusConflict
	case weft.CodeMessageTooLarge:
		return http.StatusRequestEntityTooLarge
	case weft.CodeRateLimited, weft.CodeLimitExceeded:
		// A quota is not a rate, but 429 is what HTTP has for "too
		// many"; the body's code (not retryable) tells them apart.
		return http.StatusTooManyRequests
	case weft.CodeUnavailable, weft.CodeMaxConnectionsReached:
		return http.StatusServiceUnavailable
	case weft.CodeConnectionFailed:
		return http.StatusBadGateway
	}
	if strings.HasSuffix(string(code), "_NOT_FOUND") {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// ErrorBody is the "error" object of every error answer.
type ErrorBody struct {
	Code      weft.Code `json:"code"`
	Message   string    `json:"message"`
	Retryable bool      `json:"retryable"`
}

// BodyOf returns the client-safe error object of err (an error that is not
// a *weft.Error is INTERNAL with a generic message).
func BodyOf(err error) ErrorBody {
	e := weft.AsError(err)
	return ErrorBody{Code: e.Code, Message: e.Message, Retryable: e.Retryable()}
}

// WriteError answers err with its status and {"error":{...}}. A 401 also
// carries WWW-Authenticate: Bearer (RFC 6750).
func WriteError(w http.ResponseWriter, err error) {
	body := BodyOf(err)
	status := Status(body.Code)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
	}
	writeJSON(w, status, map[string]ErrorBody{"error": body})
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(map[string]ErrorBody{"error": BodyOf(weft.Internal(err))})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
