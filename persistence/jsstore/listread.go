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
// just had acknowledged. readAll closes that gap: it asks the leader for
// the stream's last sequence before reading and reads until the consumer
// has delivered it.

// markCheck is how often readAll, waiting for a lagging replica, asks the
// leader whether the message it waits for is still there.
const markCheck = 50 * time.Millisecond

// readAll hands fn, in stream order, the messages of st matching filter
// from deliver on, until fn says it is done or every message the leader
// had when the read began (up to seq last, from leaderLast) is in.
//
// The consumer is filtered, so the message at last may be of another
// subject: readAll then also asks for that one subject (its messages are
// not handed to fn), which tells when the consumer's replica has reached
// last. If the message at last is gone (purged, or deleted by retention),
// nothing can tell that, and readAll ends once the consumer has nothing
// more for now.
func (s *Store) readAll(ctx context.Context, st jetstream.Stream, filter string, deliver jetstream.DeliverPolicy, last uint64, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	if last == 0 {
		return nil // nothing was ever written
	}
	mark, present, err := lastSubject(ctx, st, last)
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", filter, err)
	}
	cfg := jetstream.ConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  deliver,
		AckPolicy:      jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: readIdle,
	}
	if present && !subjectMatches(filter, mark) {
		cfg.FilterSubjects = append(cfg.FilterSubjects, mark)
	}
	cons, err := retry1(ctx, func(ctx context.Context) (jetstream.Consumer, error) { return st.CreateConsumer(ctx, cfg) })
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", filter, err)
	}
	defer func() { _ = st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	r := lagReader{st: st, filter: filter, last: last, present: present, fn: fn, patience: s.opts.WriteTimeout}
	return r.run(ctx, cons)
}

// lagReader is one readAll's walk through its consumer.
type lagReader struct {
	st      jetstream.Stream
	filter  string
	last    uint64 // the leader's last sequence when the read began
	present bool   // the message at last was there: wait for it
	reached bool   // the consumer delivered last (or later)
	checked time.Time
	// patience bounds a wait for the replica without a message (the
	// walk itself may be long: retention deletes as it goes).
	patience time.Duration
	idle     time.Time // since when the consumer has had nothing
	fn       func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)
}

func (r *lagReader) run(ctx context.Context, cons jetstream.Consumer) error {
	for {
		msgs, err := fetchNoWait(cons)
		if err != nil {
			return fmt.Errorf("jsstore: read %s: %w", r.filter, err)
		}
		for _, msg := range msgs {
			if done, err := r.add(msg); done || err != nil {
				return err
			}
		}
		if len(msgs) > 0 {
			r.idle = time.Time{}
			continue
		}
		if r.reached || !r.present {
			return nil
		}
		if err := r.wait(ctx); err != nil {
			return err
		}
	}
}

// add hands msg to fn if it is one of the filter's, and reports whether
// the read is done.
func (r *lagReader) add(msg jetstream.Msg) (bool, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return true, fmt.Errorf("jsstore: read %s: %w", r.filter, err)
	}
	if meta.Sequence.Stream >= r.last {
		r.reached = true
	}
	if !subjectMatches(r.filter, msg.Subject()) {
		return false, nil // the mark, there only to tell where the replica is
	}
	return r.fn(msg, meta)
}

// wait pauses while the consumer's replica catches up, and now and then
// asks the leader whether the message at last is still there to wait for.
func (r *lagReader) wait(ctx context.Context) error {
	if r.idle.IsZero() {
		r.idle = time.Now()
	}
	if time.Since(r.idle) > r.patience {
		return fmt.Errorf("jsstore: read %s: the replica did not reach seq %d in %v", r.filter, r.last, r.patience)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("jsstore: read %s: the replica did not reach seq %d: %w", r.filter, r.last, ctx.Err())
	case <-time.After(readRetry):
	}
	if time.Since(r.checked) < markCheck {
		return nil
	}
	r.checked = time.Now()
	_, present, err := lastSubject(ctx, r.st, r.last)
	r.present = present
	return err
}

// lastSubject asks the leader (direct gets are off) for the subject of
// the message at seq; present is false when it is gone.
func lastSubject(ctx context.Context, st jetstream.Stream, seq uint64) (subject string, present bool, err error) {
	msg, err := retry1(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return st.GetMsg(ctx, seq) })
	if notFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return msg.Subject, true, nil
}

// subjectMatches reports whether subject (no wildcards) matches filter.
func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		switch {
		case f == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
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
	err = s.readAll(ctx, st, prefix+filter, jetstream.DeliverLastPerSubjectPolicy, st.CachedInfo().State.LastSeq,
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
