package openai

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/weft-run/weft/workflows"
)

// chatRequest is the body of POST /chat/completions.
type chatRequest struct {
	Model         string         `json:"model,omitempty"`
	Messages      []wireMessage  `json:"messages"`
	Tools         []wireTool     `json:"tools,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// wireMessage differs from workflows.Message in two ways the API insists
// on: an assistant message that only calls tools has content null, and a
// tool call's arguments are a JSON string, not a JSON value.
type wireMessage struct {
	Role       string         `json:"role"`
	Content    *string        `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type wireTool struct {
	Type     string       `json:"type"`
	Function wireToolSpec `json:"function"`
}

type wireToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

func newChatRequest(req workflows.LLMRequest, defaultModel string) chatRequest {
	model := req.Model
	if model == "" {
		model = defaultModel
	}
	out := chatRequest{
		Model: model, Temperature: req.Temperature, MaxTokens: req.MaxTokens,
		Stream: true, StreamOptions: &streamOptions{IncludeUsage: true},
	}
	for _, m := range req.Messages {
		wm := wireMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			content := m.Content
			wm.Content = &content
		}
		for _, c := range m.ToolCalls {
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{
				ID: c.ID, Type: "function", Function: wireFunction{Name: c.Name, Arguments: argumentsText(c.Arguments)},
			})
		}
		out.Messages = append(out.Messages, wm)
	}
	for _, t := range req.Tools {
		out.Tools = append(out.Tools, wireTool{Type: "function", Function: wireToolSpec{
			Name: t.Name, Description: t.Description, Parameters: t.Parameters,
		}})
	}
	return out
}

// argumentsText is the API's form of recorded arguments: the JSON text, or
// the original text if the model's arguments were not JSON (kept as a JSON
// string by workflows.ToolArguments).
func argumentsText(args json.RawMessage) string {
	var s string
	if json.Unmarshal(args, &s) == nil {
		return s
	}
	if len(args) == 0 {
		return "{}"
	}
	return string(args)
}

// apiError is the error body of an OpenAI-compatible API, in an HTTP
// error answer or inside a stream.
type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"` // a string at OpenAI, a number elsewhere
}

func (e *apiError) text() string {
	parts := []string{}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	if e.Type != "" {
		parts = append(parts, "type "+e.Type)
	}
	if e.Code != nil {
		parts = append(parts, fmt.Sprintf("code %v", e.Code))
	}
	if len(parts) == 0 {
		return "unknown error"
	}
	return strings.Join(parts, ", ")
}
