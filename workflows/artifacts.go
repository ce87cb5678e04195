package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
)

// Meta describes an artifact: a blob too large for a frame, referred to in
// parameters as {"artifact_id":"art_..."}.
type Meta = weft.ArtifactMeta

// ArtifactStore is how workflows reach artifacts; the server provides it
// in Env.Artifacts.
type ArtifactStore interface {
	// Open opens an artifact of the workspace for reading.
	Open(ctx context.Context, workspace, id string) (io.ReadCloser, Meta, error)
	// Put stores r as a new artifact created by the execution.
	Put(ctx context.Context, workspace, executionID, name, contentType string, r io.Reader) (Meta, error)
}

// ErrNoArtifacts means the workflow runs where no artifact store is.
var ErrNoArtifacts = errors.New("no artifact store: this server keeps no artifacts")

// ArtifactRef is how parameters name an artifact.
type ArtifactRef struct {
	ArtifactID string `json:"artifact_id"`
}

// OpenArtifact opens an artifact of the execution's workspace (one named in
// its parameters, or one it created) for reading. Reading is not a step:
// do it inside a Task when what is read decides the steps that follow.
func OpenArtifact(ctx Context, id string) (io.ReadCloser, Meta, error) {
	store := ctx.state().run.env.Artifacts
	if store == nil {
		return nil, Meta{}, NonRetryable(ErrNoArtifacts)
	}
	rc, m, err := store.Open(ctx, ctx.Workspace(), id)
	if errors.Is(err, weft.ErrArtifactNotFound) {
		err = NonRetryable(fmt.Errorf("artifact %q: %w", id, err))
	}
	return rc, m, err
}

// artifactCreated is the details of an artifact_created event.
type artifactCreated struct {
	StepID     string `json:"step_id"`
	ArtifactID string `json:"artifact_id"`
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

// PutArtifact stores what r holds as a new artifact of the execution, as a
// recorded step that emits artifact_created. Once recorded, a re-run (after
// a crash or a wait) returns the recorded artifact without reading r or
// writing anything. The artifact is deleted with the execution.
func PutArtifact(ctx Context, name, contentType string, r io.Reader) (Meta, error) {
	c := ctx.state()
	id := c.nextStepID()
	if rec, ok := c.run.journal.Recorded(id); ok {
		return replayStep[Meta](id, rec, "artifact", name)
	}
	c.run.parkIfDraining()
	store := c.run.env.Artifacts
	if store == nil {
		return Meta{}, NonRetryable(ErrNoArtifacts)
	}
	begin := time.Now().UTC()
	m, err := store.Put(ctx, ctx.Workspace(), ctx.ExecutionID(), name, contentType, r)
	if err != nil {
		// Nothing is recorded: a run after a crash writes it again.
		if errors.Is(err, weft.ErrArtifactTooLarge) {
			err = NonRetryable(err)
		}
		return Meta{}, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Meta{}, NonRetryable(err)
	}
	ev := events.New(events.ArtifactCreated, artifactCreated{StepID: id, ArtifactID: m.ID, Name: m.Name, Size: m.Size, SHA256: m.SHA256})
	step := checkpoint.Step{ID: id, Kind: "artifact", Name: name, Output: raw, Attempts: 1, StartedAt: begin, CompletedAt: time.Now().UTC()}
	if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: step, Events: []events.Event{ev}}); err != nil {
		return Meta{}, err
	}
	return m, nil
}
