package weft

import (
	"errors"
	"fmt"
)

// Code is a machine-readable protocol error code (PROTOCOL.md section 7).
// The list only grows; clients switch on it.
type Code string

// Protocol error codes.
const (
	CodeUnauthenticated       Code = "UNAUTHENTICATED"
	CodeForbidden             Code = "FORBIDDEN"
	CodeInvalidRequest        Code = "INVALID_REQUEST"
	CodeUnknownService        Code = "UNKNOWN_SERVICE"
	CodeDuplicateRequestID    Code = "DUPLICATE_REQUEST_ID"
	CodeWorkflowNotFound      Code = "WORKFLOW_NOT_FOUND"
	CodeExecutionNotFound     Code = "EXECUTION_NOT_FOUND"
	CodeArtifactNotFound      Code = "ARTIFACT_NOT_FOUND"
	CodeConflict              Code = "CONFLICT"
	CodeRateLimited           Code = "RATE_LIMITED"
	CodeLimitExceeded         Code = "LIMIT_EXCEEDED"
	CodeMessageTooLarge       Code = "WS_MESSAGE_TOO_LARGE"
	CodeConnectionNotFound    Code = "WS_CONNECTION_NOT_FOUND"
	CodeMaxConnectionsReached Code = "WS_MAX_CONNECTIONS_REACHED"
	CodeConnectionFailed      Code = "WS_CONNECTION_FAILED"
	CodeUnavailable           Code = "UNAVAILABLE"
	CodeInternal              Code = "INTERNAL"
)

// Retryable reports whether a client may retry a request that failed with c.
func (c Code) Retryable() bool {
	switch c {
	case CodeRateLimited, CodeMaxConnectionsReached, CodeConnectionFailed, CodeUnavailable, CodeInternal:
		return true
	}
	return false
}

// Error is the one error type that crosses a transport. Message is safe to
// show to a client; Err (the cause) is for logs only and never sent.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure. The client sees only a generic
// message; err is kept for the log.
func Internal(err error) *Error {
	return &Error{Code: CodeInternal, Message: "internal error", Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the client may retry.
func (e *Error) Retryable() bool { return e.Code.Retryable() }

// AsError returns err as an *Error. An error that is not one (or wraps none)
// becomes INTERNAL, so every failure maps to some protocol code.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// ErrorCode returns the protocol code of err ("" for nil).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}
