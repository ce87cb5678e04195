package weft

import (
	"errors"
	"time"
)

// ArtifactMeta describes an artifact: a blob too large for a frame,
// referred to in parameters as {"artifact_id":"art_..."}. Package
// artifacts stores them (a file store on one node, JetStream's object
// store in cluster mode); package workflows reads and creates them. The
// type lives here so that the developer API imports no store.
type ArtifactMeta struct {
	ID          string    `json:"artifact_id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
	ExecutionID string    `json:"execution_id,omitempty"`
}

var (
	// ErrArtifactNotFound: no such artifact in the workspace.
	ErrArtifactNotFound = errors.New("artifact not found")
	// ErrArtifactTooLarge: an artifact over the server's size limit.
	ErrArtifactTooLarge = errors.New("artifact too large")
)
