package persistence

import (
	"errors"
	"io/fs"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// run is the writer goroutine: the only code that opens write transactions.
// bbolt allows one writer at a time and each commit costs an fsync (about a
// millisecond), so committing one write per transaction caps the store near
// 1-2k writes/s whatever the number of callers. Instead run takes whatever
// is queued when it is free, up to MaxBatch, and commits it as one
// transaction and one fsync. Under light load a batch is one write and
// latency is one fsync; under heavy load batches grow and throughput follows.
// There is no timer: it never waits for a batch to fill.
//
// run exits when Close closes ops, after committing what was queued.
func (s *Store) run() {
	defer close(s.writerDone)
	batch := make([]*op, 0, s.maxBatch)
	for {
		o, ok := s.next()
		if !ok {
			return
		}
		batch = append(batch[:0], o)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch) // drop references so finished ops can be collected
	}
}

// next waits for the next queued write. While the store cannot write, it
// probes the disk every probeInterval that passes without one, so that the
// store learns that space came back even when every writer has given up.
func (s *Store) next() (*op, bool) {
	if s.Writable() == nil {
		o, ok := <-s.ops
		return o, ok
	}
	t := time.NewTimer(probeInterval)
	defer t.Stop()
	for {
		select {
		case o, ok := <-s.ops:
			return o, ok
		case <-t.C:
			s.probe()
			if s.Writable() == nil {
				o, ok := <-s.ops
				return o, ok
			}
			t.Reset(probeInterval)
		}
	}
}

// commit applies batch in one transaction and then completes its ops in
// queue order.
func (s *Store) commit(batch []*op) {
	start := time.Now()
	err := s.update(func(tx *bolt.Tx) error {
		for _, o := range batch {
			// A rejected op has written nothing (see applier), so the
			// others can still commit in this transaction.
			if o.err = o.a.check(tx); o.err != nil {
				continue
			}
			if err := o.a.put(tx); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err == nil:
		s.noteCommit(nil)
		s.observe(start, len(batch))
	case diskError(err):
		// The disk refused (full, or failing): every op of the batch
		// fails with it, and trying them one by one would only cost an
		// fsync each.
		s.noteCommit(err)
		for _, o := range batch {
			o.err = s.Writable()
		}
	default:
		// A put failed, so nothing of the batch is on disk, and one op
		// may be to blame (a value too large, say). Run each op alone so
		// only the ops that fail by themselves fail: the trick
		// bbolt.Batch uses. It costs an fsync per op, but only on this
		// rare path.
		for _, o := range batch {
			o.err = s.solo(o.a)
		}
	}
	for _, o := range batch {
		if o.done != nil {
			o.done(o.err)
		}
	}
}

func (s *Store) solo(a applier) error {
	start := time.Now()
	err := s.update(func(tx *bolt.Tx) error {
		if err := a.check(tx); err != nil {
			return err
		}
		return a.put(tx)
	})
	switch {
	case err == nil:
		s.noteCommit(nil)
		s.observe(start, 1)
	case diskError(err):
		s.noteCommit(err)
		return s.Writable()
	}
	return err
}

// diskError reports whether err came from the file system (a full disk, an
// I/O error) rather than from one op's content.
func diskError(err error) bool {
	var errno syscall.Errno
	var pathErr *fs.PathError
	return errors.As(err, &errno) || errors.As(err, &pathErr)
}

func (s *Store) observe(start time.Time, writes int) {
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(time.Since(start), writes)
	}
}
