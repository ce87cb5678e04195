package persistence

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/weft-run/weft/events"
)

// Options tune a Store. The zero value is the production setting.
type Options struct {
	// NoSync skips fsync on commit. Tests and benchmarks only: a crash can
	// lose or corrupt committed writes.
	NoSync bool
	// MaxBatch caps how many writes share one transaction; 0 means 1024. It
	// is also the depth of the write queue, past which writers wait.
	MaxBatch int
	// OnCommit, if set, is called by the writer goroutine after each
	// transaction with its latency (apply + commit + fsync) and the number
	// of writes it carried, rejected ones included. It runs on the write
	// path: keep it quick (a histogram observe).
	OnCommit func(d time.Duration, writes int)
	// OnHealth, if set, is called by the writer goroutine when the store
	// stops being able to write (err wraps ErrUnwritable) and when it can
	// again (nil). See Store.Writable.
	OnHealth func(err error)
	// FailWrites, if set, is called before each write transaction; an
	// error fails it as a failing disk would. Tests only: it is how a full
	// disk is simulated.
	FailWrites func() error
	// OnDeleted, if set, is called after executions were removed
	// (DeleteExecution, DeleteExpired) and the removal committed, with
	// their records: what hangs off them elsewhere (artifacts) goes too.
	OnDeleted func(removed []Execution)
}

// lockTimeout bounds the wait for bbolt's file lock, so a second process (or
// a second Open in this one) fails with a clear error instead of hanging.
const lockTimeout = time.Second

// Store is the durable state of weft in one bbolt file. See the package doc
// for the layout and the concurrency rules.
type Store struct {
	db       *bolt.DB
	opts     Options
	maxBatch int

	// mu guards closed and the send on ops: senders hold it shared, Close
	// exclusively, so no write slips into ops after it is closed.
	mu     sync.RWMutex
	closed bool
	ops    chan *op

	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	health health // health.go: whether commits succeed
}

// op is one queued write and its completion.
type op struct {
	a    applier
	err  error
	done func(error) // nil for CommitAsync without a callback
}

// Open opens (creating if needed, mode 0600) the store at path and starts its
// writer goroutine. Close it to stop the goroutine and release the file.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout,
		NoSync:  opts.NoSync,
		// The hashmap freelist stays fast as the file fragments (etcd's
		// choice); the array default degrades on large files.
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("persistence: open %s: file is locked by another process or an open Store (waited %v): %w", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("persistence: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return openStats(tx, time.Now()) // stats.go: a store from before the rollup gets it
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("persistence: open %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, maxBatch: opts.MaxBatch, writerDone: make(chan struct{})}
	if s.maxBatch <= 0 {
		s.maxBatch = 1024
	}
	s.ops = make(chan *op, s.maxBatch)
	go s.run()
	return s, nil
}

// Close commits every write already queued (calling their done callbacks),
// stops the writer and closes the file. Writes and reads after Close fail
// with ErrClosed; a write racing with Close either commits or fails with
// ErrClosed, never hangs. It is safe to call more than once and from several
// goroutines; every call returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.ops)
		s.mu.Unlock()
		<-s.writerDone
		// bbolt's Close waits for read transactions still running.
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// CreateExecution durably stores a new execution and its first event (seq 1)
// with its index entries, in one transaction.
//
// If exec.IdempotencyKey is set and an execution of the same workspace and
// workflow already holds that key, nothing is written and a copy of that
// execution is returned with a nil error; existing is nil when this call
// created. Concurrent creates with one key are safe: the writer applies them
// in order, so exactly one creates and the others get it back.
//
// If ctx ends first, CreateExecution returns ctx.Err() but the create may
// still commit; a retry with the same idempotency key finds it.
func (s *Store) CreateExecution(ctx context.Context, exec Execution, first events.Event) (existing *Execution, err error) {
	c, err := newCreateOp(exec, first)
	if err != nil {
		return nil, err
	}
	if err := s.do(ctx, c); err != nil {
		return nil, err
	}
	return c.existing, nil
}

// Commit durably applies w: when it returns nil, w is committed and fsynced.
// It fails with ErrNotFound for an unknown execution and ErrSeqGap when
// w.Events do not continue the log, and then nothing of w is written.
//
// If ctx ends first, Commit returns ctx.Err() but w may still commit; the
// caller cannot tell, so it should treat the execution's state as unknown
// (re-read the log) rather than retry blindly, which would fail with
// ErrSeqGap if w did land.
func (s *Store) Commit(ctx context.Context, w Write) error {
	p, err := Prepare(w)
	if err != nil {
		return err
	}
	return s.CommitPreparedWait(ctx, p)
}

// Prepared is a Write already encoded for the store. Its events are
// encoded exactly once, here: the execution actor publishes the same bytes
// once they are committed (Events), and subscribers frame them as they are.
//
// Another store (persistence/jsstore, cluster mode) commits the same
// Prepared through Write and Events, so the actors prepare once whatever
// the store.
type Prepared struct {
	op *writeOp
	w  Write
}

// Prepare validates and encodes w, in the caller's goroutine (the writer
// goroutine only moves bytes). The caller may reuse w afterwards.
func Prepare(w Write) (*Prepared, error) {
	o, err := newWriteOp(w)
	if err != nil {
		return nil, err
	}
	return &Prepared{op: o, w: w}, nil
}

// Write is the write that was prepared, as given (its events without the
// stored bytes: see Events). Its slices are shared: do not modify them.
func (p *Prepared) Write() Write { return p.w }

// Events are the prepared write's events as they will be stored. Their
// bytes are shared: do not modify them.
func (p *Prepared) Events() []events.Stored { return p.op.events }

// CommitAsync queues w and returns without waiting for the fsync. done, if
// not nil, is called with Commit's result once w is committed (or rejected),
// from the writer goroutine, in the order the writes were queued. done must
// be quick and must not call the Store's write methods: the writer waits for
// it, and a write from inside it could wait for the writer.
//
// CommitAsync blocks only while the queue is full (MaxBatch writes waiting),
// which is the store's backpressure. Invalid writes and writes after Close
// get done(err) before CommitAsync returns, from the caller's goroutine.
func (s *Store) CommitAsync(w Write, done func(error)) {
	p, err := Prepare(w)
	if err != nil {
		if done != nil {
			done(err)
		}
		return
	}
	s.CommitPrepared(p, done)
}

// CommitPreparedWait is Commit for a write prepared by Prepare.
func (s *Store) CommitPreparedWait(ctx context.Context, p *Prepared) error {
	return s.do(ctx, p.op)
}

// CommitPrepared is CommitAsync for a write prepared by Prepare.
func (s *Store) CommitPrepared(p *Prepared, done func(error)) {
	if err := s.enqueue(context.Background(), &op{a: p.op, done: done}); err != nil && done != nil {
		done(err)
	}
}

// do queues a and waits for its commit or for ctx.
func (s *Store) do(ctx context.Context, a applier) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Buffered: the writer never blocks on a caller that gave up.
	res := make(chan error, 1)
	o := &op{a: a, done: func(err error) { res <- err }}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) enqueue(ctx context.Context, o *op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
