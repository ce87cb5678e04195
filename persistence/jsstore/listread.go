package jsstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Listing reads (scan, watchAll, the ended walk of retention) go through
// an ephemeral R1 consumer, which JetStream may place on a replica that
// lags the stream's leader: on its own it can miss a write this process
// just had acknowledged, or see nothing at all for a moment (a replica
// catching up after a NATS server died). readAll closes that gap: it asks
// the leader for the last message the filter matches and reads until the
// consumer has delivered it (or a later one).
//
// That message, not the stream's last: the stream's last message may be
// gone (a KV purge, as every execution's end purges its unfinished entry),
// and then nothing tells a lagging replica from one that has delivered
// everything. An earlier version read "what the consumer has for now" in
// that case, and a node taking over a partition after a kill -9 found
// none of its executions unfinished.

// markCheck is how often readAll, waiting for a lagging replica, asks the
// leader whether the message it waits for is still there.
const markCheck = 50 * time.Millisecond

// readAll hands fn, in stream order, the messages of st matching filter
// from deliver on, until fn says it is done or every message the leader
// had when the read began (up to the last one filter matched) is in.
func (s *Store) readAll(ctx context.Context, st jetstream.Stream, filter string, deliver jetstream.DeliverPolicy, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	last, err := lastMatching(ctx, st, filter)
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", filter, err)
	}
	if last == 0 {
		return nil // nothing matches
	}
	r := lagReader{leader: st, filter: filter, last: last, fn: fn, patience: s.opts.WriteTimeout}
	return consume(ctx, st, jetstream.ConsumerConfig{FilterSubject: filter, DeliverPolicy: deliver}, r.run)
}

// consume reads st through an ephemeral pull consumer made with cfg (in
// memory, one replica, no acks, deleted after), handing read its fetch:
// what the consumer has for now (fetchNoWait). Every listing and log read
// goes through it.
func consume(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, read func(ctx context.Context, fetch func() ([]jetstream.Msg, error)) error) error {
	cfg.AckPolicy, cfg.MemoryStorage, cfg.Replicas, cfg.InactiveThreshold = jetstream.AckNonePolicy, true, 1, readIdle
	cons, err := retry1(ctx, func(ctx context.Context) (jetstream.Consumer, error) { return st.CreateConsumer(ctx, cfg) })
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", cfg.FilterSubject, err)
	}
	// Best effort: an ephemeral consumer goes by itself once idle.
	defer func() { _ = st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	return read(ctx, func() ([]jetstream.Msg, error) { return fetchNoWait(cons) })
}

// fetchLoop hands fn the messages fetch brings, in order, until fn says
// it is done; when fetch has nothing for now, idle says whether the read
// is done (or failed), else it pauses before the next fetch. filter
// names the read in errors.
func fetchLoop(filter string, fetch func() ([]jetstream.Msg, error), fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error), idle func() (bool, error)) error {
	for {
		msgs, err := fetch()
		if err != nil {
			return fmt.Errorf("jsstore: read %s: %w", filter, err)
		}
		for _, msg := range msgs {
			meta, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("jsstore: read %s: %w", filter, err)
			}
			if done, err := fn(msg, meta); done || err != nil {
				return err
			}
		}
		if len(msgs) == 0 {
			if done, err := idle(); done || err != nil {
				return err
			}
		}
	}
}

// pause waits readRetry for a lagging replica, or fails with ctx.
func pause(ctx context.Context, what func() string) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("jsstore: read %s: %w", what(), ctx.Err())
	case <-time.After(readRetry):
		return nil
	}
}

// leader is what a lagReader asks the stream's leader (a jetstream.Stream).
type leader interface {
	GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error)
	GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error)
}

// lagReader is one readAll's walk through its consumer.
type lagReader struct {
	leader leader
	filter string
	last   uint64 // the leader's last message matching filter: read up to it
	seen   uint64 // the stream sequence of the last message delivered
	// patience bounds a wait for the replica without a message (the
	// walk itself may be long: retention deletes as it goes).
	patience time.Duration
	idle     time.Time // since when the consumer has had nothing
	checked  time.Time
	fn       func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)
}

// run reads the consumer through fetch, which returns what it has for
// now (fetchNoWait).
func (r *lagReader) run(ctx context.Context, fetch func() ([]jetstream.Msg, error)) error {
	deliver := func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		r.seen, r.idle = max(r.seen, meta.Sequence.Stream), time.Time{}
		return r.fn(msg, meta)
	}
	return fetchLoop(r.filter, fetch, deliver, func() (bool, error) {
		if r.seen >= r.last {
			return true, nil
		}
		err := r.wait(ctx)
		return err != nil || r.last == 0, err
	})
}

// wait pauses while the consumer's replica catches up, and now and then
// asks the leader again for the last message matching the filter: the
// one waited for may have been removed since (a purge), and a replica
// would wait for it in vain.
func (r *lagReader) wait(ctx context.Context) error {
	if r.idle.IsZero() {
		r.idle = time.Now()
	}
	if time.Since(r.idle) > r.patience {
		return fmt.Errorf("jsstore: read %s: the replica did not reach seq %d in %v", r.filter, r.last, r.patience)
	}
	if err := pause(ctx, func() string { return fmt.Sprintf("%s: the replica did not reach seq %d", r.filter, r.last) }); err != nil {
		return err
	}
	if time.Since(r.checked) < markCheck {
		return nil
	}
	r.checked = time.Now()
	if present, err := messageAt(ctx, r.leader, r.last); err != nil || present {
		return err
	}
	last, err := lastMatching(ctx, r.leader, r.filter)
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", r.filter, err)
	}
	r.last = last
	return nil
}

// lastMatching asks the leader (direct gets are off) for the stream
// sequence of the last message matching filter; 0 when none does.
func lastMatching(ctx context.Context, st leader, filter string) (uint64, error) {
	msg, err := retry1(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return st.GetLastMsgForSubject(ctx, filter)
	})
	if notFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return msg.Sequence, nil
}

// messageAt asks the leader whether the message at seq is there.
func messageAt(ctx context.Context, st leader, seq uint64) (present bool, err error) {
	_, err = retry1(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return st.GetMsg(ctx, seq) })
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

// kvOp headers: a KV delete or purge is a message too, with this header.
const kvOpHeader = "KV-Operation"

// watchAll calls fn with the current entry of every key of kv matching
// filter (deleted keys left out), in the order they were last written,
// as of every write acknowledged before the call (readAll).
func (s *Store) watchAll(ctx context.Context, kv jetstream.KeyValue, filter string, fn func(key string, value []byte, rev uint64) error) error {
	st, err := retry1(ctx, func(ctx context.Context) (jetstream.Stream, error) { return s.js.Stream(ctx, "KV_"+kv.Bucket()) })
	if err != nil {
		return fmt.Errorf("jsstore: scan %s: %w", kv.Bucket(), err)
	}
	prefix := kvSubject(kv.Bucket(), "")
	type entry struct {
		value []byte
		rev   uint64
	}
	current := map[string]entry{}
	err = s.readAll(ctx, st, prefix+filter, jetstream.DeliverLastPerSubjectPolicy,
		func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
			key := strings.TrimPrefix(msg.Subject(), prefix)
			if op := msg.Headers().Get(kvOpHeader); op != "" {
				delete(current, key) // DEL or PURGE
				return false, nil
			}
			current[key] = entry{msg.Data(), meta.Sequence.Stream}
			return false, nil
		})
	if err != nil {
		return fmt.Errorf("jsstore: scan %s: %w", kv.Bucket(), err)
	}
	keys := slices.Collect(maps.Keys(current))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(current[a].rev, current[b].rev) })
	for _, k := range keys {
		e := current[k]
		if err := fn(k, e.value, e.rev); err != nil {
			return err
		}
	}
	return nil
}

// scan reads the current value of every key of kv matching filter
// (watchAll), each decoded as a T.
func scan[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, filter string) ([]T, error) {
	var out []T
	err := s.watchAll(ctx, kv, filter, func(key string, value []byte, _ uint64) error {
		var v T
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("%w: %s key %s: %v", ErrCorrupt, kv.Bucket(), key, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}
