package workflows

import (
	"context"
	"strings"
	"time"

	"github.com/weft-run/weft/events"
)

// ScriptedProvider is an offline, deterministic LLM: it answers with
// Reply(req) (by default a short acknowledgement of the last user message),
// streamed in chunks of a few words. The examples use it so that weft runs
// with no network and no key, and tests get repeatable output.
type ScriptedProvider struct {
	Reply         func(LLMRequest) LLMResponse
	WordsPerChunk int           // default 1
	ChunkDelay    time.Duration // pause between chunks, to look like a model
}

var _ Provider = ScriptedProvider{}

// Name returns "scripted".
func (ScriptedProvider) Name() string { return "scripted" }

// Stream streams the scripted reply.
func (p ScriptedProvider) Stream(ctx context.Context, req LLMRequest, onDelta func(string)) (LLMResponse, error) {
	resp := p.reply(req)
	words := strings.SplitAfter(resp.Text, " ")
	per := max(p.WordsPerChunk, 1)
	for i := 0; i < len(words); i += per {
		if err := ctx.Err(); err != nil {
			return LLMResponse{}, err
		}
		onDelta(strings.Join(words[i:min(i+per, len(words))], ""))
		if p.ChunkDelay > 0 {
			if err := sleepCtx(ctx, p.ChunkDelay); err != nil {
				return LLMResponse{}, err
			}
		}
	}
	if resp.Model == "" {
		resp.Model = "scripted-1"
	}
	if resp.FinishReason == "" {
		resp.FinishReason = "stop"
	}
	if resp.Usage == (events.Usage{}) {
		resp.Usage = events.Usage{PromptTokens: countWords(req), CompletionTokens: len(words)}
	}
	return resp, nil
}

func (p ScriptedProvider) reply(req LLMRequest) LLMResponse {
	if p.Reply != nil {
		return p.Reply(req)
	}
	last := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			last = m.Content
		}
	}
	return LLMResponse{Text: "Scripted reply to: " + last}
}

func countWords(req LLMRequest) int {
	n := 0
	for _, m := range req.Messages {
		n += len(strings.Fields(m.Content))
	}
	return n
}
