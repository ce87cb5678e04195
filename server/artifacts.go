package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/artifacts"
	"github.com/weft-run/weft/persistence"
)

// Artifacts (artifacts.Store): blobs under <DataDir>/artifacts, their
// metadata in <DataDir>/artifacts.db; in cluster mode artifacts.JetStream
// (an object store and a key-value bucket shared by every node), with
// execution.delete's removals told by clusterStore and retention's left
// to the sweep. An execution's artifacts go when the
// execution goes (execution.delete, retention: persistence's OnDeleted);
// uploads follow Config.Retention counted from their upload, removed by a
// sweep that also catches the artifacts of executions removed while the
// server stopped before their OnDeleted ran.

func (s *Server) openArtifacts() error {
	store, err := artifacts.Open(s.cfg.DataDir, artifacts.Options{MaxBytes: s.cfg.MaxArtifactBytes, NoSync: s.cfg.NoSync})
	if err != nil {
		return err
	}
	s.artifacts, s.arts = store, store
	return nil
}

// artifactKeeper is what the server does with the artifacts: the actors'
// part, and the removals of its sweep and of deleted executions.
type artifactKeeper interface {
	actors.ArtifactStore
	DeleteExecution(workspace, executionID string) (int, error)
	Expire(ctx context.Context, now time.Time, retention time.Duration, exists func(workspace, executionID string) bool) (int, error)
}

// openClusterArtifacts opens the artifacts of cluster mode: bytes and
// metadata on JetStream, shared by every node. The node's own store
// still opens, unused.
func openClusterArtifacts(nc *nats.Conn, replicas int, maxBytes int64) (*artifacts.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster mode: JetStream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arts, err := artifacts.OpenJetStream(ctx, js, replicas, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("cluster mode: open the artifacts on JetStream: %w", err)
	}
	return arts, nil
}

// executionsDeleted removes the artifacts of removed executions.
func (s *Server) executionsDeleted(removed []persistence.Execution) {
	for _, e := range removed {
		if n, err := s.arts.DeleteExecution(e.Workspace, e.ID); err != nil {
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
	n, err := s.arts.Expire(ctx, now, s.cfg.Retention, exists)
	switch {
	case err != nil:
		s.log.Warn().Err(err).Msg("artifact sweep failed; the next one retries")
	case n > 0:
		s.log.Info().Int("deleted", n).Msg("removed expired artifacts")
	}
}
