package workflows

import (
	"fmt"
	"time"
)

// Error codes of LLM and tool steps, shown in llm_error, tool_error and
// execution_failed details. Retry policies may list them in
// NonRetryableCodes.
const (
	// CodeRateLimited: the provider answered HTTP 429. Retried; the LLM
	// step waits at least the provider's Retry-After.
	CodeRateLimited = "RATE_LIMITED"
	// CodeProviderError: the provider failed (HTTP 5xx, a network error,
	// a stream that ended half-way) or refused the request (other HTTP
	// 4xx: not retried).
	CodeProviderError = "PROVIDER_ERROR"
	// CodeProviderTimeout: the provider sent nothing for its idle timeout.
	// Retried.
	CodeProviderTimeout = "PROVIDER_TIMEOUT"
	// CodeBadResponse: the provider's answer could not be understood
	// (malformed stream or JSON). Not retried: the same server would say
	// the same thing again.
	CodeBadResponse = "PROVIDER_BAD_RESPONSE"
	// CodeToolNotFound: a model called a tool that was not offered.
	CodeToolNotFound = "TOOL_NOT_FOUND"
	// CodeToolInvalidInput: a tool's arguments do not fit its input
	// schema.
	CodeToolInvalidInput = "TOOL_INVALID_INPUT"
	// CodeMaxIterations: an agent loop made its last allowed model call
	// and the model still asked for tools.
	CodeMaxIterations = "AGENT_MAX_ITERATIONS"
)

// ProviderError is how a Provider reports a failed call, so that the LLM
// step can show a code and honour a Retry-After. A provider returns it as
// is when a retry may help, wrapped in NonRetryable when it cannot.
//
// It unwraps to a *CodedError carrying Code (which is how ErrorInfo finds
// the code) and to Err, the underlying cause.
type ProviderError struct {
	Code       string        // one of the Code* constants
	StatusCode int           // the HTTP status, 0 when the failure was not an HTTP answer
	RetryAfter time.Duration // the provider's Retry-After, 0 when none
	Message    string        // what went wrong, for people
	Err        error         // the cause, if any
}

func (e *ProviderError) Error() string {
	msg := e.Message
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the error's code as a *CodedError, and its cause.
func (e *ProviderError) Unwrap() []error {
	errs := []error{&CodedError{Code: e.Code, Message: e.Error()}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}
