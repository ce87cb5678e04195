package persistence

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// Hooks for the external tests: they reach into the writer only to make
// batching deterministic and to exercise its fallback path.

// QueueLen is how many writes wait for the writer.
func QueueLen(s *Store) int { return len(s.ops) }

// ErrInjected is what QueueFailingPut's op fails with.
var ErrInjected = errors.New("injected put failure")

// QueueFailingPut queues an op that passes check, half-writes (a bogus
// "partial" execution record), then fails in put, as a bbolt error would.
func QueueFailingPut(s *Store, done func(error)) error {
	return s.enqueue(context.Background(), &op{a: failingPut{}, done: done})
}

type failingPut struct{}

func (failingPut) check(*bolt.Tx) error { return nil }

func (failingPut) put(tx *bolt.Tx) error {
	if err := tx.Bucket(bktExecutions).Put([]byte("partial"), []byte("{")); err != nil {
		return err
	}
	return ErrInjected
}
