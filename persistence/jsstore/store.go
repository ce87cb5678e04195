package jsstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// Options configure a Store. The zero value is a single-replica store
// named WEFT.
type Options struct {
	// Prefix names weft's streams and buckets (<Prefix>_EVENTS,
	// KV_<Prefix>_EXECUTIONS, ...) and, in lower case, its subjects
	// (<prefix>.ev.<workspace>.<execution>). Two weft deployments may
	// share a NATS account under two prefixes. Letters, digits, '_' and
	// '-'; default "WEFT".
	Prefix string
	// Replicas of every stream and bucket (weft serve --nats-replicas):
	// 1 by default, 3 in production. Open creates them with it, and
	// updates existing ones to it.
	Replicas int
	// WriteTimeout bounds one write (its publish, retried through a
	// leader change, and its projections) and the reads of a write's
	// preparation. Default 30s.
	WriteTimeout time.Duration
}

const (
	defaultPrefix       = "WEFT"
	defaultWriteTimeout = 30 * time.Second
	// attemptTimeout bounds one publish before it is retried (with the
	// same message id, so a retry of a write that did land is answered as
	// a duplicate, not stored twice). A JetStream leader election takes a
	// few seconds.
	attemptTimeout = 2 * time.Second
	// dedupWindow is how long the events stream remembers message ids.
	dedupWindow = 2 * time.Minute
)

// Store is weft's execution store on NATS JetStream. See the package doc
// for the layout, fencing and what is atomic.
type Store struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	opts  Options
	names names

	events, signals         jetstream.Stream
	records, steps, idem    jetstream.KeyValue
	list, unfinished        jetstream.KeyValue
	stepsStream, listStream jetstream.Stream // the buckets' streams, for purges and leader reads
	unfinishedS, recordsS   jetstream.Stream
	idemS                   jetstream.Stream
	maxBody                 int  // the largest message body the server takes, less room for headers
	rest                    rest // schedules, audit, stats and the ended index (rest.go)

	// mu guards closed and logs: the executions this store appends to,
	// each with its queue of writes (append.go).
	mu     sync.Mutex
	closed bool
	logs   map[string]*execLog
	drains sync.WaitGroup // one goroutine per execution with queued writes
}

// Open creates (or updates to opts) weft's streams and buckets on the
// JetStream of nc and returns a Store on them. nc stays the caller's:
// Close does not close it.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix
	}
	if !plainToken(opts.Prefix) {
		return nil, fmt.Errorf("%w: store prefix %q: letters, digits, '_' and '-' only", persistence.ErrInvalid, opts.Prefix)
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jsstore: %w", err)
	}
	s := &Store{nc: nc, js: js, opts: opts, names: newNames(opts.Prefix), logs: map[string]*execLog{}}
	// A message must leave room for its headers (the seq and the message
	// id: well under 1 KiB).
	s.maxBody = int(nc.MaxPayload()) - 1024
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) setup(ctx context.Context) error {
	n, r := s.names, s.opts.Replicas
	var err error
	var events, signals jetstream.Stream
	if events, err = s.stream(ctx, jetstream.StreamConfig{
		Name:        n.events,
		Description: "weft: one subject per execution, one message per write",
		Subjects:    []string{n.eventsPrefix + ">"},
		Duplicates:  dedupWindow,
	}, r); err != nil {
		return err
	}
	if signals, err = s.stream(ctx, jetstream.StreamConfig{
		Name:        n.signals,
		Description: "weft: signal inboxes, one subject per execution; a consumed signal is deleted",
		Subjects:    []string{n.signalsPrefix + ">"},
	}, r); err != nil {
		return err
	}
	s.events, s.signals = retryStream{events}, retryStream{signals}
	buckets := []struct {
		name   string
		kv     *jetstream.KeyValue
		stream *jetstream.Stream
	}{
		{n.records, &s.records, &s.recordsS},
		{n.steps, &s.steps, &s.stepsStream},
		{n.idem, &s.idem, &s.idemS},
		{n.list, &s.list, &s.listStream},
		{n.unfinished, &s.unfinished, &s.unfinishedS},
	}
	for _, b := range buckets {
		st, err := s.stream(ctx, kvStreamConfig(b.name), r)
		if err != nil {
			return err
		}
		kv, err := s.js.KeyValue(ctx, b.name)
		if err != nil {
			return fmt.Errorf("jsstore: bind bucket %s: %w", b.name, err)
		}
		*b.stream, *b.kv = retryStream{st}, retryKV{kv}
	}
	return s.setupRest(ctx)
}

// stream creates or updates one stream. Every weft stream is on file
// storage and refuses direct gets: a direct get may be answered by a
// replica that lags the leader, and weft reads its own writes (a record
// right after its create, the last seq before an append), so reads go to
// the stream leader.
func (s *Store) stream(ctx context.Context, cfg jetstream.StreamConfig, replicas int) (jetstream.Stream, error) {
	cfg.Storage = jetstream.FileStorage
	cfg.Replicas = replicas
	cfg.AllowDirect = false
	st, err := s.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("jsstore: stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// kvStreamConfig is the stream of a KV bucket as nats.go's
// CreateKeyValue makes it (history 1, delete markers, rollups), but
// without direct gets (see stream).
func kvStreamConfig(bucket string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + bucket,
		Description:       "weft bucket " + bucket,
		Subjects:          []string{"$KV." + bucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Discard:           jetstream.DiscardNew,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        dedupWindow,
	}
}

// Close waits for the writes already queued to finish (their done
// callbacks are called) and refuses any later call with
// persistence.ErrClosed. It does not close the NATS connection. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.drains.Wait()
	return nil
}

// open returns persistence.ErrClosed once the store is closed.
func (s *Store) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return persistence.ErrClosed
	}
	return nil
}

// writeContext bounds a write that runs outside its caller's context.
func (s *Store) writeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.WriteTimeout)
}

// wrongLast reports whether err is JetStream's refusal of a publish whose
// expected last sequence (per subject) did not match: a fenced append, a
// lost compare-and-set.
func wrongLast(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// notFound reports whether err says a message or key is absent.
func notFound(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}
