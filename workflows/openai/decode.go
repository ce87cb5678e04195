package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// Bounds on what one answer may hold, so that a broken or hostile server
// cannot make the step hold unbounded memory.
const (
	maxToolCalls     = 128
	maxResponseBytes = 16 << 20 // text and tool arguments together
)

// chunk is one chat.completion.chunk.
type chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   string          `json:"content"`
			ToolCalls []toolCallDelta `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *apiError `json:"error"`
}

// toolCallDelta is a fragment of a tool call: the first names it, the
// next ones add to its arguments. Index says which call it belongs to.
type toolCallDelta struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type toolCallBuilder struct {
	id, name string
	args     strings.Builder
}

// assembler builds a response from chunks.
type assembler struct {
	text   strings.Builder
	calls  []*toolCallBuilder
	usage  events.Usage
	model  string
	finish string
	size   int
}

// errBadResponse marks what the server sent as not understood.
var errBadResponse = errors.New("malformed stream")

// add applies one chunk and returns its content delta.
func (a *assembler) add(data []byte) (string, error) {
	var c chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("%w: chunk is not JSON: %w (%s)", errBadResponse, err, preview(data))
	}
	if c.Error != nil {
		return "", &workflows.ProviderError{Code: workflows.CodeProviderError, Message: "openai: error in stream: " + c.Error.text()}
	}
	if c.Model != "" {
		a.model = c.Model
	}
	if c.Usage != nil {
		a.usage = events.Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens}
	}
	var delta string
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // n > 1 was not asked for
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.finish = *ch.FinishReason
		}
		delta += ch.Delta.Content
		for _, tc := range ch.Delta.ToolCalls {
			if err := a.addToolCall(tc); err != nil {
				return "", err
			}
		}
	}
	a.size += len(delta)
	if a.size > maxResponseBytes {
		return "", fmt.Errorf("%w: answer over %d bytes", errBadResponse, maxResponseBytes)
	}
	a.text.WriteString(delta)
	return delta, nil
}

// addToolCall applies a tool call fragment. Servers number calls from 0
// without gaps; one that sends no index (some older servers) starts a new
// call with each id and otherwise continues the last one.
func (a *assembler) addToolCall(tc toolCallDelta) error {
	i := len(a.calls) - 1
	switch {
	case tc.Index != nil:
		i = *tc.Index
	case tc.ID != "" || i < 0:
		i = len(a.calls)
	}
	if i < 0 || i > len(a.calls) {
		return fmt.Errorf("%w: tool call index %d after %d calls", errBadResponse, i, len(a.calls))
	}
	if i == len(a.calls) {
		if i == maxToolCalls {
			return fmt.Errorf("%w: over %d tool calls", errBadResponse, maxToolCalls)
		}
		a.calls = append(a.calls, &toolCallBuilder{})
	}
	b := a.calls[i]
	if tc.ID != "" {
		b.id = tc.ID
	}
	b.name += tc.Function.Name // a name is sent whole, but some servers split it
	b.args.WriteString(tc.Function.Arguments)
	a.size += len(tc.Function.Name) + len(tc.Function.Arguments)
	if a.size > maxResponseBytes {
		return fmt.Errorf("%w: answer over %d bytes", errBadResponse, maxResponseBytes)
	}
	return nil
}

func (a *assembler) response() workflows.LLMResponse {
	resp := workflows.LLMResponse{Text: a.text.String(), Usage: a.usage, Model: a.model, FinishReason: a.finish}
	for i, b := range a.calls {
		id := b.id
		if id == "" {
			id = fmt.Sprintf("call_%d", i)
		}
		resp.ToolCalls = append(resp.ToolCalls, workflows.ToolCall{ID: id, Name: b.name, Arguments: workflows.ToolArguments(b.args.String())})
	}
	return resp
}

// errIncomplete is a stream that ended before the answer did.
var errIncomplete = errors.New("stream ended before the answer was complete (no [DONE], no finish_reason)")

// decodeStream reads an SSE stream of chunks to its end, calling onDelta
// with each piece of content as it is read. The answer is complete at
// [DONE], or at the end of the stream if a finish_reason was seen (some
// servers omit [DONE]); an end before either is errIncomplete, and a read
// error is returned as is.
func decodeStream(r io.Reader, onDelta func(string)) (workflows.LLMResponse, error) {
	sse := newSSEReader(r)
	var a assembler
	for {
		data, err := sse.Next()
		if errors.Is(err, io.EOF) {
			if a.finish == "" {
				return workflows.LLMResponse{}, errIncomplete
			}
			return a.response(), nil
		}
		if errors.Is(err, errLineTooLong) {
			return workflows.LLMResponse{}, fmt.Errorf("%w: %w", errBadResponse, err)
		}
		if err != nil {
			return workflows.LLMResponse{}, err
		}
		switch strings.TrimSpace(string(data)) {
		case "[DONE]":
			return a.response(), nil
		case "": // an empty event: a keep-alive of sorts
			continue
		}
		delta, err := a.add(data)
		if err != nil {
			return workflows.LLMResponse{}, err
		}
		if delta != "" {
			onDelta(delta)
		}
	}
}

// preview shows the start of a bad payload in an error message.
func preview(b []byte) string {
	const n = 120
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
