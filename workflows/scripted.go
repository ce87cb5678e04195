package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weft-run/weft/events"
)

// ScriptedProvider is an offline, deterministic LLM, streamed in chunks of
// a few words. The examples use it so that weft runs with no network and
// no key, and tests get repeatable output.
//
// What it answers, first that applies:
//
//   - Script: the reply for the conversation's turn, where the turn is the
//     number of assistant messages already in the request (0 for the first
//     call of an agent loop, 1 after the first tool results, ...). The
//     answer depends on the request alone, never on how often the provider
//     was called, so it is the same across executions and restarts. A turn
//     past the end of the script is a non-retryable error.
//   - Reply(req).
//   - DefaultScriptedReply(req): a minimal agent that calls the first
//     offered tool once, then answers.
//
// Tool calls in a reply are not streamed (deltas are text only); a call
// without an id gets "call_<turn>_<index>", and arguments that are not
// valid JSON are passed on as a JSON string.
//
// Its model, in llm_start and in a reply that names none, is
// "scripted:<ScriptName>", or "scripted-1" without a ScriptName.
type ScriptedProvider struct {
	// ScriptName names the script in the model the provider reports
	// ("scripted:<ScriptName>"); "" reports "scripted-1".
	ScriptName    string
	Script        []LLMResponse
	Reply         func(LLMRequest) LLMResponse
	WordsPerChunk int           // default 1
	ChunkDelay    time.Duration // pause between chunks, to look like a model
}

var _ Provider = ScriptedProvider{}

// Name returns "scripted".
func (ScriptedProvider) Name() string { return "scripted" }

// DefaultModel is the model llm_start names when the request names none:
// "scripted:<ScriptName>", or "scripted-1" without a ScriptName.
func (p ScriptedProvider) DefaultModel() string {
	if p.ScriptName != "" {
		return "scripted:" + p.ScriptName
	}
	return "scripted-1"
}

// Stream streams the scripted reply.
func (p ScriptedProvider) Stream(ctx context.Context, req LLMRequest, onDelta func(string)) (LLMResponse, error) {
	turn := scriptTurn(req)
	resp, err := p.reply(req, turn)
	if err != nil {
		return LLMResponse{}, err
	}
	words := strings.SplitAfter(resp.Text, " ")
	if resp.Text == "" {
		words = nil
	}
	per := max(p.WordsPerChunk, 1)
	for i := 0; i < len(words); i += per {
		if err := ctx.Err(); err != nil {
			return LLMResponse{}, err
		}
		onDelta(strings.Join(words[i:min(i+per, len(words))], ""))
		if p.ChunkDelay > 0 {
			if err := sleepCtx(ctx, p.ChunkDelay, nil); err != nil {
				return LLMResponse{}, err
			}
		}
	}
	calls := make([]ToolCall, len(resp.ToolCalls))
	for i, c := range resp.ToolCalls {
		if c.ID == "" {
			c.ID = fmt.Sprintf("call_%d_%d", turn, i)
		}
		c.Arguments = ToolArguments(string(c.Arguments))
		calls[i] = c
	}
	resp.ToolCalls = calls
	if len(calls) == 0 {
		resp.ToolCalls = nil
	}
	if resp.Model == "" {
		resp.Model = p.DefaultModel()
	}
	if resp.FinishReason == "" {
		resp.FinishReason = "stop"
		if len(calls) > 0 {
			resp.FinishReason = "tool_calls"
		}
	}
	if resp.Usage == (events.Usage{}) {
		resp.Usage = events.Usage{PromptTokens: countWords(req), CompletionTokens: len(words)}
	}
	return resp, nil
}

func (p ScriptedProvider) reply(req LLMRequest, turn int) (LLMResponse, error) {
	switch {
	case len(p.Script) > 0:
		if turn >= len(p.Script) {
			return LLMResponse{}, NonRetryable(&ProviderError{Code: CodeProviderError,
				Message: fmt.Sprintf("scripted: no reply for turn %d (the script has %d)", turn, len(p.Script))})
		}
		return p.Script[turn], nil
	case p.Reply != nil:
		return p.Reply(req), nil
	default:
		return DefaultScriptedReply(req), nil
	}
}

// scriptTurn is the number of assistant messages in the conversation.
func scriptTurn(req LLMRequest) int {
	n := 0
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			n++
		}
	}
	return n
}

// DefaultScriptedReply is what a ScriptedProvider with neither Script nor
// Reply answers; a Reply may fall back to it. It plays the smallest agent
// that exercises tools: offered tools and with no tool result yet in the
// conversation, it calls the first tool, putting the last user message in
// every string property of the tool's input (other required properties
// get their type's zero value); otherwise it answers in words, quoting the
// tool results it was given.
func DefaultScriptedReply(req LLMRequest) LLMResponse {
	var user string
	var results []string
	for _, m := range req.Messages {
		switch m.Role {
		case "user":
			user = m.Content
		case "tool":
			results = append(results, m.Content)
		}
	}
	if len(req.Tools) > 0 && len(results) == 0 {
		tool := req.Tools[0]
		return LLMResponse{
			Text:      "Calling " + tool.Name + ".",
			ToolCalls: []ToolCall{{Name: tool.Name, Arguments: argumentsFromSchema(tool.Parameters, user)}},
		}
	}
	if len(results) > 0 {
		return LLMResponse{Text: fmt.Sprintf("Scripted answer to: %s (tool results: %s)", user, truncate(strings.Join(results, "; "), 200))}
	}
	return LLMResponse{Text: "Scripted reply to: " + user}
}

// argumentsFromSchema builds arguments for a JSON schema of an object:
// text in every string property, zero values in the other required ones.
func argumentsFromSchema(schema json.RawMessage, text string) json.RawMessage {
	var s struct {
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	_ = json.Unmarshal(schema, &s)
	args := map[string]any{}
	for name, prop := range s.Properties {
		if prop.Type == "string" {
			args[name] = text
		}
	}
	zero := map[string]any{"integer": 0, "number": 0, "boolean": false, "array": []any{}, "object": map[string]any{}}
	for _, name := range s.Required {
		if _, ok := args[name]; !ok {
			args[name] = zero[s.Properties[name].Type]
		}
	}
	raw, _ := json.Marshal(args)
	return raw
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func countWords(req LLMRequest) int {
	n := 0
	for _, m := range req.Messages {
		n += len(strings.Fields(m.Content))
	}
	return n
}
