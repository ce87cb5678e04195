package reference

import (
	"context"
	"fmt"
	"strings"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// StreamInput are the parameters of stream.
type StreamInput struct {
	Chunks     int `json:"chunks" jsonschema:"minimum=1,maximum=100000,description=how many llm_delta events"`
	ChunkBytes int `json:"chunk_bytes,omitempty" jsonschema:"minimum=1,maximum=4096,description=size of each chunk (default 16)"`
}

// Stream is one LLM step whose (offline) model streams Chunks deltas as
// fast as it can: the load tool's stream scenario measures how fast events
// reach a socket.
func Stream(ctx workflows.Context, in StreamInput) (int, error) {
	if in.Chunks < 1 || in.Chunks > 100000 || in.ChunkBytes < 0 || in.ChunkBytes > 4096 {
		return 0, workflows.NonRetryable(fmt.Errorf("chunks must be 1..100000 and chunk_bytes 0..4096"))
	}
	p := chunkProvider{chunks: in.Chunks, size: max(in.ChunkBytes, 16)}
	resp, err := workflows.LLMWith(ctx, p, "stream", workflows.LLMRequest{Messages: []workflows.Message{{Role: "user", Content: "stream"}}})
	if err != nil {
		return 0, err
	}
	return len(resp.Text), nil
}

// chunkProvider streams n chunks of filler text, without pausing.
type chunkProvider struct{ chunks, size int }

func (chunkProvider) Name() string { return "chunks" }

func (p chunkProvider) Stream(ctx context.Context, _ workflows.LLMRequest, onDelta func(string)) (workflows.LLMResponse, error) {
	chunk := strings.Repeat("x", p.size)
	for range p.chunks {
		if err := ctx.Err(); err != nil {
			return workflows.LLMResponse{}, err
		}
		onDelta(chunk)
	}
	return workflows.LLMResponse{
		Text:  fmt.Sprintf("%d chunks of %d bytes", p.chunks, p.size),
		Usage: events.Usage{CompletionTokens: p.chunks},
	}, nil
}
