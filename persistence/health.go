package persistence

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrUnwritable is what Writable wraps while the store cannot commit: the
// disk is full, or the file cannot be written or synced.
var ErrUnwritable = errors.New("persistence: storage cannot be written")

// ErrStorageFull is ErrUnwritable because the disk (or quota) is full.
var ErrStorageFull = fmt.Errorf("%w: no space left", ErrUnwritable)

// probeInterval is how often a store that cannot write tries a small commit
// to learn that it can again (space came back), when no other write does.
const probeInterval = time.Second

// health is the store's view of its own disk. The writer goroutine sets
// it from each commit's outcome; anyone reads it.
type health struct {
	failure atomic.Pointer[error] // nil while commits succeed
}

// Writable reports whether the store can commit: nil, or an error wrapping
// ErrUnwritable (and ErrStorageFull when the disk is full) with the cause.
// It turns nil again by itself once a commit succeeds, including the
// store's own probe, which runs every second while the store cannot write.
func (s *Store) Writable() error {
	if p := s.health.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// noteCommit records the outcome of a transaction that failed or succeeded
// as a whole. Errors of a rejected op (a seq gap, an unknown execution)
// say nothing about the disk and are not passed here.
func (s *Store) noteCommit(err error) {
	if err == nil {
		if s.health.failure.Load() != nil {
			s.health.failure.Store(nil)
			s.observeHealth(nil)
		}
		return
	}
	var wrapped error
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		wrapped = fmt.Errorf("%w: %w", ErrStorageFull, err)
	} else {
		wrapped = fmt.Errorf("%w: %w", ErrUnwritable, err)
	}
	if s.health.failure.Swap(&wrapped) == nil {
		s.observeHealth(wrapped)
	}
}

func (s *Store) observeHealth(err error) {
	if s.opts.OnHealth != nil {
		s.opts.OnHealth(err)
	}
}

// probe tries a commit that changes nothing but a timestamp, to learn
// whether the disk takes writes again.
func (s *Store) probe() {
	err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).Put([]byte("probe"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
	s.noteCommit(err)
}

// update is db.Update behind the test hook Options.FailWrites.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.opts.FailWrites != nil {
		if err := s.opts.FailWrites(); err != nil {
			return err
		}
	}
	return s.db.Update(fn)
}
