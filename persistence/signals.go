package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AddSignal durably appends a signal to an execution's inbox and returns it
// with its seq. The inbox keeps signals that arrive before the workflow
// waits for them; a step consumes one with Write.ConsumeSignals. With
// maxPending > 0, an inbox already holding that many unconsumed signals
// refuses the new one with ErrLimit (a client cannot fill the disk through
// an execution that never reads its signals).
func (s *Store) AddSignal(ctx context.Context, executionID, name string, payload json.RawMessage, maxPending int) (Signal, error) {
	if executionID == "" || name == "" {
		return Signal{}, fmt.Errorf("%w: signal needs an execution id and a name", ErrInvalid)
	}
	o := &signalOp{id: []byte(executionID), max: maxPending, sig: Signal{Name: name, Payload: payload, ReceivedAt: time.Now().UTC()}}
	if err := s.do(ctx, o); err != nil {
		return Signal{}, err
	}
	return o.sig, nil
}

// Signals returns the signals of an execution not yet consumed, oldest
// first.
func (s *Store) Signals(ctx context.Context, executionID string) ([]Signal, error) {
	out := []Signal{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bktExecutions).Get([]byte(executionID)) == nil {
			return fmt.Errorf("execution %s: %w", executionID, ErrNotFound)
		}
		inbox := tx.Bucket(bktSignals).Bucket([]byte(executionID))
		if inbox == nil {
			return nil
		}
		return inbox.ForEach(func(_, v []byte) error {
			var sig Signal
			if err := json.Unmarshal(v, &sig); err != nil {
				return fmt.Errorf("persistence: decode signal of %s: %w", executionID, err)
			}
			out = append(out, sig)
			return nil
		})
	})
	return out, err
}

type signalOp struct {
	id  []byte
	max int
	sig Signal
}

func (o *signalOp) check(tx *bolt.Tx) error {
	if tx.Bucket(bktExecutions).Get(o.id) == nil {
		return fmt.Errorf("execution %s: %w", o.id, ErrNotFound)
	}
	if o.max > 0 && pendingAtLeast(tx.Bucket(bktSignals).Bucket(o.id), o.max) {
		return fmt.Errorf("execution %s holds %d unconsumed signals: %w", o.id, o.max, ErrLimit)
	}
	return nil
}

// pendingAtLeast reports whether inbox holds n keys or more, counting no
// further than n.
func pendingAtLeast(inbox *bolt.Bucket, n int) bool {
	if inbox == nil {
		return false
	}
	c, count := inbox.Cursor(), 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if count++; count >= n {
			return true
		}
	}
	return false
}

func (o *signalOp) put(tx *bolt.Tx) error {
	inbox, err := tx.Bucket(bktSignals).CreateBucketIfNotExists(o.id)
	if err != nil {
		return err
	}
	seq, err := inbox.NextSequence()
	if err != nil {
		return err
	}
	o.sig.Seq = seq
	raw, err := json.Marshal(o.sig)
	if err != nil {
		return fmt.Errorf("persistence: encode signal of %s: %w", o.id, err)
	}
	return inbox.Put(seqKey(seq), raw)
}
