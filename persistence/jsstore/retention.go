package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// Retention finds the executions to remove through the ended index, a
// stream (<prefix>_ENDED) with one subject per ended execution,
//
//	<prefix>.ended.<workflow>.<workspace>.<execution>   -> endedEntry
//
// at most one message each (stored only on an empty subject: the first
// recordEnd of an execution stores it, later ones find it there). A
// workflow's entries, read through a consumer filtered on
// <prefix>.ended.<workflow>.>, come oldest first: entries are stored as
// executions end. So the sweep, like bbolt's, walks each workflow's
// entries from the first and stops at the first one too young: its cost
// follows what it removes plus the number of workflows (the bucket
// <prefix>_ENDED_WORKFLOWS names them). An execution imported already
// ended long ago is stored late and waits for the ones stored before it.
//
// An entry names the execution's end time: if the record no longer
// matches it (it is gone, or ended again at another time), the entry is
// dropped and nothing else removed.

// endedEntry is one ended execution in the ended index.
type endedEntry struct {
	Workspace string    `json:"ws"`
	ID        string    `json:"id"`
	Ended     time.Time `json:"ended"`
}

func (s *Store) endedSubject(e persistence.Execution) string {
	return s.rest.endedPrefix + token(e.Workflow) + "." + token(e.Workspace) + "." + token(e.ID)
}

// putEnded adds e to the ended index unless it is there already, and
// reports whether this call added it.
func (s *Store) putEnded(ctx context.Context, e persistence.Execution) (bool, error) {
	if err := s.registerWorkflow(ctx, e.Workflow); err != nil {
		return false, err
	}
	msg := nats.NewMsg(s.endedSubject(e))
	var err error
	if msg.Data, err = json.Marshal(endedEntry{Workspace: e.Workspace, ID: e.ID, Ended: e.UpdatedAt.UTC()}); err != nil {
		return false, fmt.Errorf("jsstore: encode ended entry of %s: %w", e.ID, err)
	}
	// A message id of this call's own: a retry of this publish that
	// landed comes back as a duplicate (added), another call's publish
	// is refused by the fence on the empty subject (there already).
	nonce := strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
	_, err = s.publish(ctx, msg, "ended:"+nonce, 0)
	switch {
	case err == nil:
		return true, nil
	case wrongLast(err):
		return false, nil // recorded already
	}
	return false, fmt.Errorf("jsstore: ended entry of %s: %w", e.ID, err)
}

// registerWorkflow names workflow in the ended workflows bucket, once per
// store.
func (s *Store) registerWorkflow(ctx context.Context, workflow string) error {
	if _, ok := s.rest.knownWorkflows.Load(workflow); ok {
		return nil
	}
	if _, err := s.rest.endedWorkflows.Put(ctx, token(workflow), nil); err != nil {
		return fmt.Errorf("jsstore: ended workflow %s: %w", workflow, err)
	}
	s.rest.knownWorkflows.Store(workflow, struct{}{})
	return nil
}

// decodeEnded reads one ended entry.
func decodeEnded(seq uint64, data []byte) (endedEntry, error) {
	var e endedEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%w: ended entry %d: %v", ErrCorrupt, seq, err)
	}
	if e.ID == "" || e.Workspace == "" || e.Ended.IsZero() {
		return e, fmt.Errorf("%w: ended entry %d is incomplete", ErrCorrupt, seq)
	}
	return e, nil
}

// DeleteExpired removes up to limit executions that ended longer ago than
// their workflow's retention at now (zero or negative: kept for ever), as
// DeleteExecution does, and their ended entries. more reports that the
// batch was full: call again.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, retention persistence.RetentionFunc, limit int) (deleted int, more bool, err error) {
	if err := s.open(); err != nil {
		return 0, false, err
	}
	if limit <= 0 {
		limit = 256
	}
	var workflows []string
	err = s.watchAll(ctx, s.rest.endedWorkflows, ">", func(key string, _ []byte, _ uint64) error {
		wf, err := untoken(key)
		if err != nil {
			return fmt.Errorf("%w: ended workflow %q", ErrCorrupt, key)
		}
		workflows = append(workflows, wf)
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	seen := 0
	for _, wf := range workflows {
		keep := retention(wf)
		if keep <= 0 {
			continue
		}
		n, looked, err := s.expireWorkflow(ctx, wf, now.Add(-keep), limit-seen)
		deleted += n
		seen += looked
		if err != nil {
			return deleted, false, err
		}
		if seen >= limit {
			return deleted, true, nil
		}
	}
	return deleted, false, nil
}

// expireWorkflow removes, of workflow's ended entries older than cutoff,
// up to limit, oldest first, with their executions. It returns how many
// executions it removed and how many entries it dealt with.
func (s *Store) expireWorkflow(ctx context.Context, workflow string, cutoff time.Time, limit int) (deleted, looked int, err error) {
	filter := s.rest.endedPrefix + token(workflow) + ".>"
	err = s.readAll(ctx, s.rest.ended, filter, jetstream.DeliverAllPolicy, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		seq := meta.Sequence.Stream
		e, err := decodeEnded(seq, msg.Data())
		if err == nil && !e.Ended.Before(cutoff) {
			return true, nil // the rest ended too recently
		}
		if looked == limit {
			return true, nil // the rest is for the next sweep
		}
		looked++
		if err == nil {
			ok, err := s.expire(ctx, e)
			if err != nil {
				return true, err
			}
			if ok {
				deleted++
			}
		}
		if err := s.rest.ended.DeleteMsg(ctx, seq); err != nil && !notFound(err) && !deleteOfMissing(err) {
			return true, fmt.Errorf("jsstore: retention of %s: %w", workflow, err)
		}
		return false, nil
	})
	return deleted, looked, err
}

// expire removes the execution of e if its record still ended when e
// says, and reports whether it did.
func (s *Store) expire(ctx context.Context, e endedEntry) (bool, error) {
	rec, err := s.loadExecution(ctx, e.ID)
	if errors.Is(err, persistence.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if rec.Workspace != e.Workspace || !rec.Status.Terminal() || !rec.UpdatedAt.Equal(e.Ended) {
		return false, nil
	}
	_, err = s.DeleteExecution(ctx, e.Workspace, e.ID)
	var notEnded *persistence.NotEndedError
	if errors.Is(err, persistence.ErrNotFound) || errors.As(err, &notEnded) {
		return false, nil
	}
	return err == nil, err
}
