package events

import (
	"encoding/json"
	"time"
)

// ErrorInfo is how a failure is shown in events and snapshots.
type ErrorInfo struct {
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}

// CodeCancelled is the ErrorInfo code of a cancelled execution (in its
// snapshot) and of the steps its cancel interrupted (in their error events).
const CodeCancelled = "CANCELLED"

// ExecutionStartedDetails are the details of execution_started.
type ExecutionStartedDetails struct {
	Parameters json.RawMessage `json:"parameters"`
	Metadata   json.RawMessage `json:"metadata"`
}

// ExecutionEndDetails are the details of execution_completed, _failed and
// _cancelled: one of Result, Error or Reason.
type ExecutionEndDetails struct {
	Result     json.RawMessage `json:"result,omitempty"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	DurationMS int64           `json:"duration_ms"`
}

// WorkflowDetails are the details of workflow_start, _end and _error.
type WorkflowDetails struct {
	Name   string          `json:"name"`
	StepID string          `json:"step_id,omitempty"`
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  *ErrorInfo      `json:"error,omitempty"`
}

// TaskDetails are the details of task_start, task_end and task_error.
type TaskDetails struct {
	StepID     string          `json:"step_id"`
	Name       string          `json:"name"`
	Attempt    int             `json:"attempt"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	DurationMS *int64          `json:"duration_ms,omitempty"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	WillRetry  *bool           `json:"will_retry,omitempty"`
	RetryInMS  *int64          `json:"retry_in_ms,omitempty"`
}

// LLMDetails are the details of llm_start, llm_delta, llm_end and llm_error.
type LLMDetails struct {
	StepID     string          `json:"step_id"`
	Provider   string          `json:"provider,omitempty"`
	Model      string          `json:"model,omitempty"`
	Text       string          `json:"text,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	Usage      *Usage          `json:"usage,omitempty"`
	DurationMS *int64          `json:"duration_ms,omitempty"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	WillRetry  *bool           `json:"will_retry,omitempty"`
}

// Usage counts the tokens of one LLM call.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// ToolDetails are the details of tool_start, tool_end and tool_error.
type ToolDetails struct {
	StepID     string          `json:"step_id"`
	Tool       string          `json:"tool"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	DurationMS *int64          `json:"duration_ms,omitempty"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	WillRetry  *bool           `json:"will_retry,omitempty"`
}

// SignalDetails are the details of signal_waiting and signal_received.
// WakeAt is the deadline of a wait with a timeout (signal_waiting only).
type SignalDetails struct {
	StepID  string          `json:"step_id,omitempty"`
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload,omitempty"`
	WakeAt  time.Time       `json:"wake_at,omitzero"`
}

// TimerDetails are the details of timer_started and timer_fired. WakeAt is
// when the timer was due, the same in both events. Signal is set only on
// the timer_fired that ends a signal wait whose timeout passed (such a
// wait has no timer_started: its signal_waiting carries the deadline).
type TimerDetails struct {
	StepID string    `json:"step_id"`
	WakeAt time.Time `json:"wake_at"`
	Signal string    `json:"signal,omitempty"`
}
