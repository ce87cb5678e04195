package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Reading a log after seq N never reads the whole stream, nor the whole
// log: the message holding seq N+1 is found by a search over the subject's
// messages with leader gets (findStart), then a pull consumer filtered
// on the subject delivers from there to the log's end as the leader saw it
// when the read began (so a consumer placed on a replica that lags still
// returns every acknowledged event).

const (
	// readBatch is how many messages one fetch of a read asks for
	// (messages can be up to a MiB).
	readBatch = 32
	// readRetry is the pause before fetching again when the consumer's
	// replica has not caught up with the end of the read yet.
	readRetry = 5 * time.Millisecond
	// readIdle is when the server drops a read's consumer that its
	// reader left behind (it deletes it when done).
	readIdle = 30 * time.Second
)

// Events returns the events of id with seq > afterSeq in seq order, at
// most limit of them (limit <= 0: all). An unknown execution is
// persistence.ErrNotFound; a known one with nothing after afterSeq is an
// empty slice.
func (s *Store) Events(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Event, error) {
	st, err := s.StoredEvents(ctx, id, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	out := make([]events.Event, len(st))
	for i, e := range st {
		if out[i], err = e.Decode(); err != nil {
			return nil, fmt.Errorf("jsstore: %s: %w", id, err)
		}
	}
	return out, nil
}

// StoredEvents is Events without decoding: each event's bytes as
// events.Encode wrote them, its seq and type.
func (s *Store) StoredEvents(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Stored, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	rv, _, err := s.getRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.readLog(ctx, s.names.eventsSubject(rv.Exec.Workspace, id), afterSeq, limit)
}

// readLog reads the events of the log on subject with seq > afterSeq, at
// most limit of them (limit <= 0: all).
func (s *Store) readLog(ctx context.Context, subject string, afterSeq uint64, limit int) ([]events.Stored, error) {
	last, err := s.lastMessage(ctx, subject)
	if err != nil || last == nil || last.seq <= afterSeq {
		return nil, err
	}
	start, err := s.findStart(ctx, subject, afterSeq, last)
	if err != nil {
		return nil, err
	}
	r := eventReader{after: afterSeq, limit: limit}
	if start == last.streamSeq {
		// Only the last message: no consumer needed.
		return r.out, r.add(last.frame, last.seq)
	}
	return r.out, s.readRange(ctx, subject, start, last.streamSeq, &r)
}

// eventReader collects the events of a read from its messages.
type eventReader struct {
	after uint64
	limit int
	out   []events.Stored
}

func (r *eventReader) full() bool { return r.limit > 0 && len(r.out) >= r.limit }

func (r *eventReader) add(f frame, seq uint64) error {
	evs, err := f.storedEvents(seq)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Seq > r.after && !r.full() {
			r.out = append(r.out, e)
		}
	}
	return nil
}

// readRange feeds r the messages of subject from stream sequence start to
// end, until r is full. It reads them through an ephemeral pull consumer
// filtered on the subject (in memory, one replica, no acks), fetching
// what is there without waiting: the consumer may sit on a replica that
// lags the leader, so the messages up to end may arrive a moment later.
func (s *Store) readRange(ctx context.Context, subject string, start, end uint64, r *eventReader) error {
	ctx, cancel := s.readContext(ctx)
	defer cancel()
	at := start - 1
	cfg := jetstream.ConsumerConfig{FilterSubject: subject, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}
	return consume(ctx, s.events, cfg, func(ctx context.Context, fetch func() ([]jetstream.Msg, error)) error {
		add := func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
			var err error
			at, err = s.addMessage(subject, msg, meta, r)
			return at >= end || r.full(), err
		}
		return fetchLoop(subject, fetch, add, func() (bool, error) {
			return false, pause(ctx, func() string { return fmt.Sprintf("%s from %d to %d, at %d", subject, start, end, at) })
		})
	})
}

// fetchNoWait returns the messages cons has for now: none when its
// replica has not caught up yet, or when it cannot be reached yet (a
// consumer just made on another server: no responders).
func fetchNoWait(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	batch, err := cons.FetchNoWait(readBatch)
	if err != nil {
		if retryable(err) {
			return nil, nil
		}
		return nil, err
	}
	var msgs []jetstream.Msg
	for msg := range batch.Messages() {
		msgs = append(msgs, msg)
	}
	if err := batch.Error(); err != nil && !retryable(err) {
		return nil, err
	}
	return msgs, nil
}

// addMessage feeds r one message (at meta) and returns its stream
// sequence.
func (s *Store) addMessage(subject string, msg jetstream.Msg, meta *jetstream.MsgMetadata, r *eventReader) (uint64, error) {
	seq, err := frameSeq(msg.Headers())
	if err != nil {
		return 0, fmt.Errorf("%s at %d: %w", subject, meta.Sequence.Stream, err)
	}
	f, err := parseFrame(msg.Data())
	if err != nil {
		return 0, fmt.Errorf("%s at %d: %w", subject, meta.Sequence.Stream, err)
	}
	if err := r.add(f, seq); err != nil {
		return 0, fmt.Errorf("%s at %d: %w", subject, meta.Sequence.Stream, err)
	}
	return meta.Sequence.Stream, nil
}

// point is one message of a log: its stream sequence and the seqs of its
// first and last events (a message without events has first = seq+1).
type point struct{ stream, first, seq uint64 }

// holds reports whether the message at p holds event seq.
func (p point) holds(seq uint64) bool { return p.first <= seq && seq <= p.seq }

// findStart returns the stream sequence of the first message of subject
// whose events go past afterSeq: the message that holds afterSeq+1 (last,
// the subject's last message, goes past it). Seqs only grow along the
// stream, so it searches: each step reads the first message of the
// subject at or after a stream sequence (a leader get), guessing where
// seq afterSeq+1 is from the seqs and stream sequences around it (exact
// when the log was written alone) and halving the range every other step,
// so it takes a few reads, and at most about 2·log2 of the stream's
// length. A subscriber that follows the log's end (afterSeq in the last
// message) costs none.
func (s *Store) findStart(ctx context.Context, subject string, afterSeq uint64, last *lastMsg) (uint64, error) {
	want := afterSeq + 1
	hi := point{last.streamSeq, last.seq - uint64(len(last.frame.events)) + 1, last.seq}
	if hi.first <= want {
		return hi.stream, nil
	}
	first, err := s.pointAt(ctx, subject, 1)
	if err != nil {
		return 0, err
	}
	if first.seq >= want {
		return first.stream, nil
	}
	// lo holds seqs before want, hi holds seqs after it; bound is the last
	// stream sequence where a message of the subject between them may be.
	lo, bound := first, hi.stream-1
	for step := 0; lo.stream < bound; step++ {
		x := lo.stream + 1 + (bound-lo.stream-1)/2 // halve
		if step%2 == 0 && hi.first > lo.seq {
			// Interpolate: where want would be if the stream held only
			// this log between lo and hi.
			guess := lo.stream + (want-lo.seq)*(hi.stream-lo.stream)/(hi.first-lo.seq)
			x = min(max(guess, lo.stream+1), bound)
		}
		m, err := s.pointAt(ctx, subject, x)
		if err != nil {
			return 0, err
		}
		switch {
		case m.stream > bound:
			bound = x - 1 // nothing of the subject in [x, bound]
		case m.holds(want):
			return m.stream, nil
		case m.seq >= want:
			hi, bound = m, m.stream-1
		default:
			lo = m
		}
	}
	return hi.stream, nil
}

// pointAt reads the first message of subject at or after stream sequence
// from, from the stream leader.
func (s *Store) pointAt(ctx context.Context, subject string, from uint64) (point, error) {
	raw, err := s.events.GetMsg(ctx, from, jetstream.WithGetMsgSubject(subject))
	if err != nil {
		return point{}, fmt.Errorf("jsstore: read %s from %d: %w", subject, from, err)
	}
	seq, err := frameSeq(raw.Header)
	if err != nil {
		return point{}, fmt.Errorf("%s at %d: %w", subject, raw.Sequence, err)
	}
	f, err := parseFrame(raw.Data)
	if err != nil {
		return point{}, fmt.Errorf("%s at %d: %w", subject, raw.Sequence, err)
	}
	n := uint64(len(f.events))
	if n > seq {
		return point{}, fmt.Errorf("%w: %s at %d: %d events end at seq %d", ErrCorrupt, subject, raw.Sequence, n, seq)
	}
	return point{raw.Sequence, seq - n + 1, seq}, nil
}

// Steps returns the checkpoints of id by step id (empty, not nil, when
// none are recorded), or persistence.ErrNotFound. It reads them from the
// steps bucket's leader, one get per checkpoint (the next key of the
// execution after the last), so a writer resuming an execution sees every
// checkpoint acknowledged before.
func (s *Store) Steps(ctx context.Context, id string) (map[string]persistence.Step, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	if _, _, err := s.getRecord(ctx, id); err != nil {
		return nil, err
	}
	out := map[string]persistence.Step{}
	filter := kvSubject(s.names.steps, stepsFilter(id))
	err := eachMsg(ctx, s.stepsStream, filter, func(raw *jetstream.RawStreamMsg) error {
		if raw.Header.Get("KV-Operation") != "" {
			return nil // a delete marker
		}
		var v stepValue
		if err := json.Unmarshal(raw.Data, &v); err != nil {
			return fmt.Errorf("%w: step %s: %v", ErrCorrupt, raw.Subject, err)
		}
		out[v.Step.ID] = v.Step
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachMsg calls fn with every message of st matching filter, in stream
// order, read one by one from the stream's leader.
func eachMsg(ctx context.Context, st jetstream.Stream, filter string, fn func(*jetstream.RawStreamMsg) error) error {
	for seq := uint64(1); ; {
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if notFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("jsstore: read %s: %w", filter, err)
		}
		if err := fn(raw); err != nil {
			return err
		}
		seq = raw.Sequence + 1
	}
}
