package client

import (
	"errors"
	"fmt"
)

// Protocol error codes (PROTOCOL.md section 7).
const (
	CodeUnauthenticated       = "UNAUTHENTICATED"
	CodeForbidden             = "FORBIDDEN"
	CodeInvalidRequest        = "INVALID_REQUEST"
	CodeUnknownService        = "UNKNOWN_SERVICE"
	CodeDuplicateRequestID    = "DUPLICATE_REQUEST_ID"
	CodeWorkflowNotFound      = "WORKFLOW_NOT_FOUND"
	CodeExecutionNotFound     = "EXECUTION_NOT_FOUND"
	CodeArtifactNotFound      = "ARTIFACT_NOT_FOUND"
	CodeConflict              = "CONFLICT"
	CodeRateLimited           = "RATE_LIMITED"   // retryable: over the connection's frame rate
	CodeLimitExceeded         = "LIMIT_EXCEEDED" // not retryable: a per-connection or per-workspace quota
	CodeMessageTooLarge       = "WS_MESSAGE_TOO_LARGE"
	CodeConnectionNotFound    = "WS_CONNECTION_NOT_FOUND"
	CodeMaxConnectionsReached = "WS_MAX_CONNECTIONS_REACHED"
	CodeConnectionFailed      = "WS_CONNECTION_FAILED"
	CodeUnavailable           = "UNAVAILABLE"
	CodeInternal              = "INTERNAL"
)

// Error is a protocol error: from an error frame, an HTTP refusal of the
// upgrade, or made by the client for connection trouble (UNAVAILABLE while
// disconnected, WS_CONNECTION_FAILED when reconnecting gave up).
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches another *Error with the same code, so
// errors.Is(err, &client.Error{Code: client.CodeForbidden}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorCode returns the protocol code of err ("" when it is not an *Error).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsRetryable reports whether err is an *Error marked retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// ErrClosed is returned by every method once Close has been called.
var ErrClosed = errors.New("client: closed")

// ErrUnsubscribed ends an execution's events after Execution.Close.
var ErrUnsubscribed = errors.New("client: unsubscribed")

func errNotConnected() *Error {
	return &Error{Code: CodeUnavailable, Message: "client: not connected (reconnecting)", Retryable: true}
}

func errConnectionLost() *Error {
	return &Error{Code: CodeUnavailable, Message: "client: connection lost before the answer; the request may have been applied", Retryable: true}
}

func errQueueFull(n int) *Error {
	return &Error{Code: CodeUnavailable, Message: fmt.Sprintf("client: not connected and %d requests already queued", n), Retryable: true}
}

// ExecutionError is the outcome of an execution that failed or was
// cancelled (Execution.Result).
type ExecutionError struct {
	ExecutionID string
	Status      string // "failed" or "cancelled"
	Code        string // the failure code, when there is one
	Message     string // the failure message or the cancel reason
}

func (e *ExecutionError) Error() string {
	msg := "execution " + e.ExecutionID + " " + e.Status
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}
