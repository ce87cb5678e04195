package workflows

import (
	"encoding/json"
	"fmt"

	"github.com/weft-run/weft/events"
)

// DefaultMaxIterations bounds an agent loop that sets no MaxIterations.
const DefaultMaxIterations = 10

// AgentRequest is the conversation and the tools of an agent loop.
type AgentRequest struct {
	Messages []Message // the conversation so far: system prompt, user request
	Tools    []AnyTool // offered to the model on every call
	Provider Provider  // nil: the environment's provider, as for LLM
	Model    string    // "": the provider's default
	// MaxIterations bounds the model calls (DefaultMaxIterations when 0).
	MaxIterations int
	Temperature   *float64
	MaxTokens     int
	LLMOptions    []StepOption // for each LLM step (default retry: LLMRetryPolicy)
	ToolOptions   []StepOption // for each tool step
}

// AgentResult is what an agent loop produced.
type AgentResult struct {
	Text        string       // the model's final answer
	Messages    []Message    // the whole conversation, the request's messages first
	ToolResults []ToolResult // every tool call, in order
	Usage       events.Usage // summed over the model calls
	Iterations  int          // model calls made
}

// ToolResult is one tool call of an agent loop and what it gave.
type ToolResult struct {
	Call   ToolCall
	Output json.RawMessage   // nil when the call failed
	Error  *events.ErrorInfo // nil when it succeeded
}

// LastOutput returns the output of the last successful call of the named
// tool. Read tool results from here rather than from variables the tool's
// function sets: a recorded tool step does not run again when the workflow
// is replayed, so such a variable would stay unset.
func (r AgentResult) LastOutput(tool string) (json.RawMessage, bool) {
	for i := len(r.ToolResults) - 1; i >= 0; i-- {
		if tr := r.ToolResults[i]; tr.Call.Name == tool && tr.Error == nil {
			return tr.Output, true
		}
	}
	return nil, false
}

// Agent runs a tool-calling loop as ordinary durable steps: it calls the
// model (an LLM step named name) offering req.Tools in the OpenAI
// tool-calling format; runs each tool call the model makes as a tool step,
// in order; appends the results to the conversation as tool messages; and
// calls the model again, until it answers without calling a tool.
//
// The steps are plain LLM and tool steps made in a deterministic order, so
// an agent survives restarts like any workflow code: recorded model calls
// and tool calls are not made again.
//
// A tool failure does not end the loop: an unknown tool name (code
// TOOL_NOT_FOUND), arguments that do not fit the tool's schema
// (TOOL_INVALID_INPUT) and a tool that failed for good are recorded as
// tool_error and handed back to the model as the tool's result,
// {"error":"..."}, so that it can correct itself on its next call (which
// counts as an iteration). A failed LLM step, a cancelled execution or a
// journal failure end it with that error.
//
// When the model still calls tools at its MaxIterations-th call, Agent
// returns the conversation so far (without running those calls) and an
// error with code AGENT_MAX_ITERATIONS: a loop that did not finish is a
// failure the workflow must decide about, not an answer.
func Agent(ctx Context, name string, req AgentRequest) (AgentResult, error) {
	tools, err := NewToolSet(req.Tools...)
	if err != nil {
		return AgentResult{}, NonRetryable(fmt.Errorf("agent %s: %w", name, err))
	}
	p := req.Provider
	if p == nil {
		p = defaultProvider(ctx)
	}
	limit := req.MaxIterations
	if limit <= 0 {
		limit = DefaultMaxIterations
	}
	res := AgentResult{Messages: append([]Message(nil), req.Messages...)}
	for res.Iterations < limit {
		resp, err := LLMWith(ctx, p, name, LLMRequest{
			Model: req.Model, Messages: res.Messages, Tools: tools.Specs(),
			Temperature: req.Temperature, MaxTokens: req.MaxTokens,
		}, req.LLMOptions...)
		if err != nil {
			return res, fmt.Errorf("agent %s: %w", name, err)
		}
		res.Iterations++
		res.Usage.PromptTokens += resp.Usage.PromptTokens
		res.Usage.CompletionTokens += resp.Usage.CompletionTokens
		res.Messages = append(res.Messages, Message{Role: "assistant", Content: resp.Text, ToolCalls: resp.ToolCalls})
		if len(resp.ToolCalls) == 0 {
			res.Text = resp.Text
			return res, nil
		}
		if res.Iterations == limit {
			break
		}
		for _, call := range resp.ToolCalls {
			tr, err := runToolCall(ctx, tools, call, req.ToolOptions)
			if err != nil {
				return res, fmt.Errorf("agent %s: %w", name, err)
			}
			res.ToolResults = append(res.ToolResults, tr)
			res.Messages = append(res.Messages, Message{Role: "tool", ToolCallID: call.ID, Content: toolContent(tr)})
		}
	}
	return res, Errorf(CodeMaxIterations, "agent %s: the model still calls tools after %d iterations", name, limit)
}

// runToolCall runs one call; a recorded tool failure is a result, any
// other error is returned.
func runToolCall(ctx Context, tools *ToolSet, call ToolCall, opts []StepOption) (ToolResult, error) {
	out, err := tools.Call(ctx, call, opts...)
	if err == nil {
		return ToolResult{Call: call, Output: out}, nil
	}
	if se, ok := toolFailure(err); ok {
		info := se.Info
		return ToolResult{Call: call, Error: &info}, nil
	}
	return ToolResult{}, err
}

// toolContent is what the model reads as a tool's result.
func toolContent(tr ToolResult) string {
	if tr.Error != nil {
		raw, _ := json.Marshal(map[string]string{"error": tr.Error.Message})
		return string(raw)
	}
	return string(tr.Output)
}

func defaultProvider(ctx Context) Provider {
	if p := ctx.state().run.env.LLM; p != nil {
		return p
	}
	return ScriptedProvider{}
}
