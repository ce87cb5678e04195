package workflows

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weft-run/weft/events"
)

// Provider is an LLM backend that streams its answer.
type Provider interface {
	// Name identifies the provider in llm_start events ("openai", "scripted").
	Name() string
	// Stream sends req and calls onDelta with each chunk of text as it
	// arrives, then returns the whole response.
	Stream(ctx context.Context, req LLMRequest, onDelta func(text string)) (LLMResponse, error)
}

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
func LLM(ctx Context, name string, req LLMRequest, opts ...StepOption) (LLMResponse, error) {
	p := ctx.state().run.env.LLM
	if p == nil {
		p = ScriptedProvider{}
	}
	return LLMWith(ctx, p, name, req, opts...)
}

// LLMWith is LLM with an explicit provider.
func LLMWith(ctx Context, p Provider, name string, req LLMRequest, opts ...StepOption) (LLMResponse, error) {
	journal := ctx.state().run.journal
	return runStep(ctx, stepSpec[LLMResponse]{
		kind: "llm",
		name: name,
		opts: newStepOptions(opts),
		started: func(a attempt) events.Event {
			return events.New(events.LLMStart, events.LLMDetails{StepID: a.stepID, Provider: p.Name(), Model: req.Model})
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
			return p.Stream(ctx, req, func(text string) {
				if text != "" {
					journal.Emit(events.New(events.LLMDelta, events.LLMDetails{StepID: a.stepID, Text: text}))
				}
			})
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
