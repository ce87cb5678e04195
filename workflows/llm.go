package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/weft-run/weft/events"
)

// Provider is an LLM backend that streams its answer.
//
// A provider whose requests fall back to a configured model may also
// implement DefaultModel() string, so that llm_start names the model
// actually asked for when the request names none. llm_start always carries
// a model: the request's, else DefaultModel(), else the provider's Name().
type Provider interface {
	// Name identifies the provider in llm_start events ("openai", "scripted").
	Name() string
	// Stream sends req and calls onDelta with each chunk of text as it
	// arrives, in order and from the calling goroutine, then returns the
	// whole response. It returns promptly when ctx is done. Failures are
	// best reported as *ProviderError (wrapped in NonRetryable when a
	// retry cannot help) so that the step shows a code.
	Stream(ctx context.Context, req LLMRequest, onDelta func(text string)) (LLMResponse, error)
}

// LLMRetryPolicy is the default retry policy of LLM steps, suited to
// hosted models: rate limits and overloads pass within seconds, so four
// attempts 1 s, 2 s and 4 s apart (and never sooner than the provider's
// Retry-After, up to MaxRetryAfter). WithRetry replaces it.
var LLMRetryPolicy = RetryPolicy{
	MaxAttempts:     4,
	InitialInterval: time.Second,
	Multiplier:      2,
	MaxInterval:     30 * time.Second,
	Jitter:          0.2,
}

// MaxRetryAfter caps how long an LLM step honours a provider's Retry-After:
// a longer one is the provider's business, not a reason to hold a step for
// an hour (the retry policy's own backoff still applies).
const MaxRetryAfter = time.Minute

// Message is one chat message (OpenAI chat-completions shape).
type Message struct {
	Role       string     `json:"role"` // system, user, assistant, tool
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a request by the model to run a tool.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolSpec offers a tool to the model.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"` // JSON schema
}

// LLMRequest is one call to a model.
type LLMRequest struct {
	Model       string     `json:"model,omitempty"` // "" = the provider's default
	Messages    []Message  `json:"messages"`
	Tools       []ToolSpec `json:"tools,omitempty"`
	Temperature *float64   `json:"temperature,omitempty"`
	MaxTokens   int        `json:"max_tokens,omitempty"`
}

// LLMResponse is a model's complete answer.
type LLMResponse struct {
	Text         string       `json:"text"`
	ToolCalls    []ToolCall   `json:"tool_calls,omitempty"`
	Usage        events.Usage `json:"usage"`
	Model        string       `json:"model,omitempty"`
	FinishReason string       `json:"finish_reason,omitempty"`
}

// LLM calls the environment's LLM provider as a durable step named name.
// Each streamed chunk is emitted as an llm_delta event as it arrives (events
// are group-committed, so a token never costs its own fsync); llm_end
// carries the whole output and token usage. Once recorded, the call is never
// made again for this execution.
//
// A failed attempt emits llm_error with will_retry. Retries follow
// LLMRetryPolicy unless WithRetry is given; a retried attempt streams its
// deltas again after a new llm_start, so a client that concatenates deltas
// starts over at each llm_start.
func LLM(ctx Context, name string, req LLMRequest, opts ...StepOption) (LLMResponse, error) {
	return LLMWith(ctx, defaultProvider(ctx), name, req, opts...)
}

// LLMWith is LLM with an explicit provider.
func LLMWith(ctx Context, p Provider, name string, req LLMRequest, opts ...StepOption) (LLMResponse, error) {
	journal := ctx.state().run.journal
	model := req.Model
	if dm, ok := p.(interface{ DefaultModel() string }); ok && model == "" {
		model = dm.DefaultModel()
	}
	if model == "" {
		// llm_start always names a model (PROTOCOL.md section 5): a
		// provider that names none is reported by its own name.
		model = p.Name()
	}
	// notBefore carries a Retry-After from one attempt to the next. It is
	// only in memory: after a restart the recorded backoff alone applies.
	var notBefore time.Time
	return runStep(ctx, stepSpec[LLMResponse]{
		kind: "llm",
		name: name,
		opts: newStepOptions(append([]StepOption{WithRetry(LLMRetryPolicy)}, opts...)),
		started: func(a attempt) events.Event {
			return events.New(events.LLMStart, events.LLMDetails{StepID: a.stepID, Provider: p.Name(), Model: model})
		},
		ended: func(a attempt, out json.RawMessage) events.Event {
			var resp LLMResponse
			_ = json.Unmarshal(out, &resp)
			text, _ := json.Marshal(resp.Text)
			return events.New(events.LLMEnd, events.LLMDetails{
				StepID: a.stepID, Model: resp.Model, Output: text, ToolCalls: toolCallsJSON(resp.ToolCalls),
				Usage: &resp.Usage, DurationMS: millis(a.elapsed),
			})
		},
		failed: func(a attempt, info *events.ErrorInfo, willRetry bool, _ time.Duration) events.Event {
			return events.New(events.LLMError, events.LLMDetails{StepID: a.stepID, Error: info, WillRetry: ptr(willRetry)})
		},
		body: func(ctx context.Context, a attempt) (LLMResponse, error) {
			if wait := time.Until(notBefore); wait > 0 {
				if err := sleepCtx(ctx, wait, nil); err != nil {
					return LLMResponse{}, err
				}
			}
			resp, err := p.Stream(ctx, req, func(text string) {
				if text != "" {
					journal.Emit(events.New(events.LLMDelta, events.LLMDetails{StepID: a.stepID, Text: text}))
				}
			})
			var pe *ProviderError
			if errors.As(err, &pe) && pe.RetryAfter > 0 {
				notBefore = time.Now().Add(min(pe.RetryAfter, MaxRetryAfter))
			}
			return resp, err
		},
	})
}

func toolCallsJSON(calls []ToolCall) json.RawMessage {
	if len(calls) == 0 {
		return nil
	}
	raw, _ := json.Marshal(calls)
	return raw
}
