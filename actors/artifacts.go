package actors

import (
	"context"
	"errors"
	"io"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/artifacts"
	"github.com/weft-run/weft/workflows"
)

// Artifacts: blobs kept by artifacts.Store (Config.Artifacts). Uploads
// and downloads go through the Service (scopes and workspaces checked
// here, as for every service); workflows reach the store through
// workflows.Env.Artifacts. An execution's artifacts go with it
// (persistence.Options.OnDeleted, wired by the server); uploads follow the
// server's retention counted from their upload (server/artifacts.go).

// artifactErr maps the store's errors to protocol errors.
func artifactErr(id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, artifacts.ErrNotFound):
		return weft.Errorf(weft.CodeArtifactNotFound, "no artifact %q", id)
	case errors.Is(err, artifacts.ErrTooLarge):
		return weft.Errorf(weft.CodeMessageTooLarge, "artifact larger than its bound")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return weft.Errorf(weft.CodeUnavailable, "artifact: %v", err)
	default:
		return weft.Internal(err)
	}
}

// ArtifactStore keeps artifacts: *artifacts.Store on one node (files and
// bbolt), *artifacts.JetStream in cluster mode (shared by every node).
type ArtifactStore interface {
	MaxBytes() int64
	Put(ctx context.Context, workspace, executionID, name, contentType string, r io.Reader) (artifacts.Meta, error)
	Get(workspace, id string) (artifacts.Meta, error)
	Open(workspace, id string) (io.ReadSeekCloser, artifacts.Meta, error)
	List(workspace string, limit int) ([]artifacts.Meta, error)
	Delete(workspace, id string) error
}

var (
	_ ArtifactStore = (*artifacts.Store)(nil)
	_ ArtifactStore = (*artifacts.JetStream)(nil)
)

func (s *Service) artifactStore() (ArtifactStore, error) {
	if s.sys.artifacts == nil {
		return nil, weft.Errorf(weft.CodeUnavailable, "this server keeps no artifacts")
	}
	return s.sys.artifacts, nil
}

// MaxArtifactBytes is the bound of one artifact (0: no store).
func (s *Service) MaxArtifactBytes() int64 {
	if s.sys.artifacts == nil {
		return 0
	}
	return s.sys.artifacts.MaxBytes()
}

// CanPutArtifact checks the scope of an upload before its body is read.
func (s *Service) CanPutArtifact(who weft.Identity) error {
	if err := who.Require(weft.ScopeArtifactsWrite); err != nil {
		return err
	}
	_, err := s.artifactStore()
	return err
}

// PutArtifact streams r into a new artifact of the caller's workspace.
func (s *Service) PutArtifact(ctx context.Context, who weft.Identity, name, contentType string, r io.Reader) (artifacts.Meta, error) {
	if err := s.CanPutArtifact(who); err != nil {
		return artifacts.Meta{}, err
	}
	m, err := s.sys.artifacts.Put(ctx, who.Workspace, "", name, contentType, r)
	if err != nil {
		return artifacts.Meta{}, artifactErr(name, err)
	}
	s.sys.log.Info().Str("artifact_id", m.ID).Int64("size", m.Size).Str("identity", who.Name).Str("workspace", who.Workspace).Msg("artifact uploaded")
	return m, nil
}

// GetArtifact answers artifact.get: an artifact's metadata.
func (s *Service) GetArtifact(_ context.Context, who weft.Identity, id string) (artifacts.Meta, error) {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return artifacts.Meta{}, err
	}
	store, err := s.artifactStore()
	if err != nil {
		return artifacts.Meta{}, err
	}
	m, err := store.Get(who.Workspace, id)
	return m, artifactErr(id, err)
}

// OpenArtifact opens an artifact's bytes (the caller closes them).
func (s *Service) OpenArtifact(_ context.Context, who weft.Identity, id string) (io.ReadSeekCloser, artifacts.Meta, error) {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return nil, artifacts.Meta{}, err
	}
	store, err := s.artifactStore()
	if err != nil {
		return nil, artifacts.Meta{}, err
	}
	f, m, err := store.Open(who.Workspace, id)
	return f, m, artifactErr(id, err)
}

// ArtifactList answers the workspace's artifacts, newest first.
type ArtifactList struct {
	Items []artifacts.Meta `json:"items"`
}

// ListArtifacts lists the caller's workspace's artifacts (at most limit,
// 1000 when <= 0).
func (s *Service) ListArtifacts(_ context.Context, who weft.Identity, limit int) (ArtifactList, error) {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return ArtifactList{}, err
	}
	store, err := s.artifactStore()
	if err != nil {
		return ArtifactList{}, err
	}
	items, err := store.List(who.Workspace, limit)
	if items == nil {
		items = []artifacts.Meta{}
	}
	return ArtifactList{Items: items}, artifactErr("", err)
}

// DeleteArtifact removes one artifact of the caller's workspace.
func (s *Service) DeleteArtifact(_ context.Context, who weft.Identity, id string) (DeleteResult, error) {
	if err := who.Require(weft.ScopeArtifactsWrite); err != nil {
		return DeleteResult{}, err
	}
	store, err := s.artifactStore()
	if err != nil {
		return DeleteResult{}, err
	}
	if err := store.Delete(who.Workspace, id); err != nil {
		return DeleteResult{}, artifactErr(id, err)
	}
	return DeleteResult{Deleted: true}, nil
}

// workflowArtifacts is the store as workflows see it (workflows.Env).
type workflowArtifacts struct{ store ArtifactStore }

func (a workflowArtifacts) Open(_ context.Context, workspace, id string) (io.ReadCloser, workflows.Meta, error) {
	return a.store.Open(workspace, id)
}

func (a workflowArtifacts) Put(ctx context.Context, workspace, executionID, name, contentType string, r io.Reader) (workflows.Meta, error) {
	return a.store.Put(ctx, workspace, executionID, name, contentType, r)
}

var _ workflows.ArtifactStore = workflowArtifacts{}
