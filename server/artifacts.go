package server

import (
	"context"
	"errors"
	"time"

	"github.com/weft-run/weft/artifacts"
	"github.com/weft-run/weft/persistence"
)

// Artifacts (artifacts.Store): blobs under <DataDir>/artifacts, their
// metadata in <DataDir>/artifacts.db. An execution's artifacts go when the
// execution goes (execution.delete, retention: persistence's OnDeleted);
// uploads follow Config.Retention counted from their upload, removed by a
// sweep that also catches the artifacts of executions removed while the
// server stopped before their OnDeleted ran.

func (s *Server) openArtifacts() error {
	store, err := artifacts.Open(s.cfg.DataDir, artifacts.Options{MaxBytes: s.cfg.MaxArtifactBytes, NoSync: s.cfg.NoSync})
	if err != nil {
		return err
	}
	s.artifacts = store
	return nil
}

// executionsDeleted removes the artifacts of removed executions.
func (s *Server) executionsDeleted(removed []persistence.Execution) {
	for _, e := range removed {
		if n, err := s.artifacts.DeleteExecution(e.Workspace, e.ID); err != nil {
			s.log.Warn().Err(err).Str("execution_id", e.ID).Msg("could not delete the execution's artifacts; the artifact sweep retries")
		} else if n > 0 {
			s.log.Info().Str("execution_id", e.ID).Int("artifacts", n).Msg("deleted the execution's artifacts")
		}
	}
}

type artifactSweep struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// artifactSweepEvery is the pause between artifact sweeps: a minute, or
// half the retention when that is shorter.
func artifactSweepEvery(retention time.Duration) time.Duration {
	return max(min(time.Minute, retention/2), 10*time.Millisecond)
}

func (s *Server) startArtifactSweep() {
	ctx, cancel := context.WithCancel(context.Background())
	s.artSweep = artifactSweep{cancel: cancel, done: make(chan struct{})}
	every := time.Minute
	if s.cfg.Retention > 0 {
		every = artifactSweepEvery(s.cfg.Retention)
	}
	go func() {
		defer close(s.artSweep.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sweepArtifacts(ctx, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (s *Server) stopArtifactSweep() {
	if s.artSweep.cancel != nil {
		s.artSweep.cancel()
		<-s.artSweep.done
	}
}

// sweepArtifacts removes expired uploads and the artifacts of executions
// no longer stored.
func (s *Server) sweepArtifacts(ctx context.Context, now time.Time) {
	exists := func(workspace, id string) bool {
		rec, err := s.execStore.Execution(ctx, id)
		if errors.Is(err, persistence.ErrNotFound) {
			return false
		}
		return err != nil || rec.Workspace == workspace // unsure: keep
	}
	n, err := s.artifacts.Expire(now, s.cfg.Retention, exists)
	switch {
	case err != nil:
		s.log.Warn().Err(err).Msg("artifact sweep failed; the next one retries")
	case n > 0:
		s.log.Info().Int("deleted", n).Msg("removed expired artifacts")
	}
}
