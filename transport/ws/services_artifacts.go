package ws

import "context"

// artifactGet serves artifact.get: {"artifact_id"} -> the artifact's
// metadata (the socket never carries an artifact's bytes).
func artifactGet(ctx context.Context, r *request) (any, error) {
	var req struct {
		ArtifactID string `json:"artifact_id"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.GetArtifact(ctx, r.who, req.ArtifactID)
}

// Registered here, after services.go's init built the table (this file's
// name sorts after it).
func init() { services["artifact.get"] = artifactGet }
