package jsstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Reading a log after seq N never reads the whole stream, nor the whole
// log: the message holding seq N+1 is found by a search over the subject's
// messages with leader gets (findStart), then an ordered consumer filtered
// on the subject delivers from there to the log's end as the leader saw it
// when the read began (so a consumer placed on a replica that lags still
// returns every acknowledged event).

// readPull bounds what an ordered consumer buffers: messages can be up to
// a MiB.
var readPull = jetstream.PullMaxMessagesWithBytesLimit(64, 4<<20)

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
	subject := s.names.eventsSubject(rv.Exec.Workspace, id)
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
// end, through an ordered consumer, until r is full.
func (s *Store) readRange(ctx context.Context, subject string, start, end uint64, r *eventReader) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = s.writeContext()
		defer cancel()
	}
	cons, err := s.events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", subject, err)
	}
	it, err := cons.Messages(readPull)
	if err != nil {
		return fmt.Errorf("jsstore: read %s: %w", subject, err)
	}
	defer it.Stop()
	for !r.full() {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("jsstore: read %s: %w", subject, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("jsstore: read %s: %w", subject, err)
		}
		seq, err := frameSeq(msg.Headers())
		if err != nil {
			return fmt.Errorf("%s at %d: %w", subject, meta.Sequence.Stream, err)
		}
		f, err := parseFrame(msg.Data())
		if err != nil {
			return fmt.Errorf("%s at %d: %w", subject, meta.Sequence.Stream, err)
		}
		if err := r.add(f, seq); err != nil {
			return fmt.Errorf("%s at %d: %w", subject, meta.Sequence.Stream, err)
		}
		if meta.Sequence.Stream >= end {
			return nil
		}
	}
	return nil
}

// point is one message of a log: its stream sequence and the seq of its
// last event.
type point struct{ stream, seq uint64 }

// findStart returns the stream sequence of the first message of subject
// whose events go past afterSeq (last is the subject's last message, and
// does). Seqs only grow along the stream, so it searches: each step reads
// the first message of the subject at or after a stream sequence (a leader
// get), guessing where seq afterSeq+1 is from the seqs and stream
// sequences around it (exact when the log was written alone) and halving
// the range every other step, so it takes a few reads, and at most about
// 2·log2 of the stream's length.
func (s *Store) findStart(ctx context.Context, subject string, afterSeq uint64, last *lastMsg) (uint64, error) {
	hi := point{last.streamSeq, last.seq}
	first, err := s.pointAt(ctx, subject, 1)
	if err != nil {
		return 0, err
	}
	if first.seq > afterSeq {
		return first.stream, nil
	}
	lo, bound := first, hi.stream-1
	for step := 0; lo.stream < bound; step++ {
		x := lo.stream + 1 + (bound-lo.stream-1)/2 // halve
		if step%2 == 0 && hi.seq > lo.seq {
			// Interpolate: where afterSeq+1 would be if the stream held
			// only this log between lo and hi.
			guess := lo.stream + (afterSeq+1-lo.seq)*(hi.stream-lo.stream)/(hi.seq-lo.seq)
			x = min(max(guess, lo.stream+1), bound)
		}
		m, err := s.pointAt(ctx, subject, x)
		if err != nil {
			return 0, err
		}
		switch {
		case m.stream > bound:
			bound = x - 1 // nothing of the subject in [x, bound]
		case m.seq > afterSeq:
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
	return point{raw.Sequence, seq}, nil
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
