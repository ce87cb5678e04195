package reference

import (
	"context"
	"fmt"
	"strings"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// Bounds of stream's parameters: the load tool streams up to 100000
// events (`weft bench stream -events`, default 20000).
const (
	MaxStreamChunks     = 100000
	MaxStreamChunkBytes = 4096
)

// StreamInput are the parameters of stream.
type StreamInput struct {
	Chunks     int `json:"chunks" jsonschema:"required,minimum=1,maximum=100000,description=how many llm_delta events (1 to 100000)"`
	ChunkBytes int `json:"chunk_bytes,omitempty" jsonschema:"minimum=0,maximum=4096,description=size of each chunk in bytes (0 to 4096; 0 or absent: 16)"`
}

// Stream is one LLM step whose (offline) model streams Chunks deltas as
// fast as it can: the load tool's stream scenario measures how fast events
// reach a socket.
func Stream(ctx workflows.Context, in StreamInput) (int, error) {
	if in.Chunks < 1 || in.Chunks > MaxStreamChunks || in.ChunkBytes < 0 || in.ChunkBytes > MaxStreamChunkBytes {
		return 0, workflows.NonRetryable(fmt.Errorf("chunks must be 1..%d and chunk_bytes 0..%d", MaxStreamChunks, MaxStreamChunkBytes))
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
