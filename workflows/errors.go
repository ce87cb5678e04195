package workflows

import (
	"errors"
	"fmt"

	"github.com/weft-run/weft/events"
)

// nonRetryable marks an error that retrying cannot fix.
type nonRetryable struct{ err error }

func (e *nonRetryable) Error() string { return e.err.Error() }
func (e *nonRetryable) Unwrap() error { return e.err }

// NonRetryable marks err so that a step fails at once, whatever its retry
// policy says.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryable{err: err}
}

// IsNonRetryable reports whether err was marked with NonRetryable.
func IsNonRetryable(err error) bool {
	var nr *nonRetryable
	return errors.As(err, &nr)
}

// CodedError is an application error with a machine-readable code, shown in
// task_error and execution_failed details. Retry policies can name codes
// that are not retryable.
type CodedError struct {
	Code    string
	Message string
}

func (e *CodedError) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a *CodedError.
func Errorf(code, format string, args ...any) error {
	return &CodedError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StepError is returned by a step that failed for good. A re-run of the
// workflow gets the same StepError from the record without running the step.
type StepError struct {
	StepID string
	Name   string
	Info   events.ErrorInfo
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %s (%s) failed: %s", e.StepID, e.Name, e.Info.Message)
}

// NondeterminismError means the code asked for a different step than the one
// recorded at the same position: the workflow changed under a running
// execution. The execution fails rather than mix results.
type NondeterminismError struct {
	StepID        string
	RecordedKind  string
	RecordedName  string
	RequestedKind string
	RequestedName string
}

func (e *NondeterminismError) Error() string {
	return fmt.Sprintf("non-determinism at step %s: recorded %s %q, code now asks for %s %q",
		e.StepID, e.RecordedKind, e.RecordedName, e.RequestedKind, e.RequestedName)
}

// ErrorInfo renders err for events and snapshots: its message, and a code
// where one is known.
func ErrorInfo(err error) *events.ErrorInfo {
	if err == nil {
		return nil
	}
	var step *StepError
	if errors.As(err, &step) {
		info := step.Info
		return &info
	}
	info := &events.ErrorInfo{Message: err.Error()}
	var coded *CodedError
	var nd *NondeterminismError
	var p *PanicError
	switch {
	case errors.As(err, &coded):
		info.Code = coded.Code
	case errors.As(err, &nd):
		info.Code = "NONDETERMINISM"
	case errors.As(err, &p):
		info.Code = "PANIC"
	case errors.Is(err, errTimeout):
		info.Code = "TIMEOUT"
	}
	return info
}
