package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// The audit trail is a stream, <prefix>_AUDIT, with one subject per
// workspace (<prefix>.audit.<workspace>) and one message per record, in the
// order they were stored. A listing cursor is a stream sequence.
//
// Records are stamped (Time) by the node that appends them, a moment
// before they are stored, so the stream is in time order to within a
// write's duration and the clocks' skew. Time windows rely on that:
// ListAudit starts a Since query at the messages stored from Since less
// auditSkew and stops an Until query at the first message stored past
// Until plus auditSkew; DeleteAuditBefore cuts the trail at the first
// record not older than the cutoff. A record appended with a Time far
// from when it is stored (weft never does) may be missed by a window and
// removed late, never early.

const (
	// auditInFlight bounds the records AppendAudit has in flight: past
	// it, AppendAudit waits, as bbolt's does on a full write queue.
	auditInFlight = 256
	// auditSkew is how far a record's Time may be from when its message
	// was stored: its write (retried through a leader change) and the
	// skew between the clocks of weft nodes and NATS servers.
	auditSkew = time.Minute
	// auditScanMax bounds the messages one ListAudit reads. A page that
	// reaches it before it is full comes back short, with a cursor to go
	// on from.
	auditScanMax      = 10000
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

func (s *Store) auditSubject(ws string) string { return s.rest.auditPrefix + token(ws) }

// auditMsg validates r, stamps it if it has no time, and makes its message.
func (s *Store) auditMsg(r persistence.AuditRecord) (*nats.Msg, error) {
	if r.Workspace == "" || len(r.Workspace) > maxIDLen {
		return nil, fmt.Errorf("%w: audit record without a workspace (or one too long)", persistence.ErrInvalid)
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	msg := nats.NewMsg(s.auditSubject(r.Workspace))
	var err error
	if msg.Data, err = json.Marshal(r); err != nil {
		return nil, fmt.Errorf("jsstore: encode audit record: %w", err)
	}
	return msg, nil
}

// publishAudit stores one record, once however many attempts it takes
// (the message id).
func (s *Store) publishAudit(ctx context.Context, msg *nats.Msg) error {
	id := "audit:" + strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
	_, err := retry1(ctx, func(ctx context.Context) (*jetstream.PubAck, error) {
		return s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	})
	if err != nil {
		return fmt.Errorf("jsstore: append audit record: %w", err)
	}
	return nil
}

// AppendAudit stores r in the background and returns at once; done, if not
// nil, is called with the result. It blocks only while auditInFlight
// records are in flight. Close waits for the records in flight.
func (s *Store) AppendAudit(r persistence.AuditRecord, done func(error)) {
	finish := func(err error) {
		if done != nil {
			done(err)
		}
	}
	msg, err := s.auditMsg(r)
	if err != nil {
		finish(err)
		return
	}
	s.rest.auditSlots <- struct{}{}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.rest.auditSlots
		finish(persistence.ErrClosed)
		return
	}
	s.drains.Add(1) // Close waits for it
	s.mu.Unlock()
	go func() {
		defer s.drains.Done()
		ctx, cancel := s.writeContext()
		err := s.publishAudit(ctx, msg)
		cancel()
		<-s.rest.auditSlots
		finish(err)
	}()
}

// AppendAuditWait stores r and waits until it is stored.
func (s *Store) AppendAuditWait(ctx context.Context, r persistence.AuditRecord) error {
	if err := s.open(); err != nil {
		return err
	}
	msg, err := s.auditMsg(r)
	if err != nil {
		return err
	}
	return s.publishAudit(ctx, msg)
}

// parseAuditCursor reads a cursor ListAudit returned: a stream sequence.
func parseAuditCursor(c string) (uint64, error) {
	seq, err := strconv.ParseUint(c, 10, 64)
	if err != nil || seq == 0 || strconv.FormatUint(seq, 10) != c {
		return 0, fmt.Errorf("%w: bad audit cursor", persistence.ErrInvalid)
	}
	return seq, nil
}

// decodeAudit reads one stored record.
func decodeAudit(seq uint64, data []byte) (persistence.AuditRecord, error) {
	var r persistence.AuditRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%w: audit record %d: %v", ErrCorrupt, seq, err)
	}
	return r, nil
}

// ListAudit returns the records of f.Workspace that match f, oldest
// first (in the order they were stored). It reads from the cursor (or
// from Since) through a consumer filtered on the workspace's subject, up
// to the subject's last message as the stream leader has it, and at most
// auditScanMax messages: a page may then be short, with a cursor.
func (s *Store) ListAudit(ctx context.Context, f persistence.AuditFilter) (persistence.AuditPage, error) {
	page := persistence.AuditPage{Items: []persistence.AuditRecord{}}
	if err := s.open(); err != nil {
		return page, err
	}
	if f.Limit <= 0 {
		f.Limit = defaultAuditLimit
	}
	f.Limit = min(f.Limit, maxAuditLimit)
	var after uint64
	if f.After != "" {
		var err error
		if after, err = parseAuditCursor(f.After); err != nil {
			return page, err
		}
	}
	if len(f.Workspace) > maxIDLen {
		return page, nil
	}
	subject := s.auditSubject(f.Workspace)
	last, err := s.rest.audit.GetLastMsgForSubject(ctx, subject)
	if notFound(err) {
		return page, nil
	}
	if err != nil {
		return page, fmt.Errorf("jsstore: audit of %s: %w", f.Workspace, err)
	}
	cfg := jetstream.ConsumerConfig{FilterSubject: subject}
	switch {
	case after >= last.Sequence:
		return page, nil
	case after > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	case !f.Since.IsZero():
		from := f.Since.Add(-auditSkew)
		if last.Time.Before(from) {
			return page, nil
		}
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	l := auditLister{f: f, page: &page, end: last.Sequence}
	err = s.readStream(ctx, s.rest.audit, cfg, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		return l.add(msg.Data(), meta.Sequence.Stream, meta.Timestamp)
	})
	return page, err
}

// auditLister fills one page of ListAudit from the messages in order.
type auditLister struct {
	f       persistence.AuditFilter
	page    *persistence.AuditPage
	end     uint64 // the subject's last message when the listing began
	last    uint64 // the last message looked at
	scanned int
}

// add looks at the message at seq, stored at stored, and reports whether
// the listing is done.
func (l *auditLister) add(data []byte, seq uint64, stored time.Time) (done bool, err error) {
	if seq > l.end {
		return true, nil
	}
	if !l.f.Until.IsZero() && stored.After(l.f.Until.Add(auditSkew)) {
		return true, nil // every record from here on is later than Until
	}
	if len(l.page.Items) == l.f.Limit || l.scanned == auditScanMax {
		l.page.NextCursor = strconv.FormatUint(l.last, 10)
		return true, nil
	}
	l.scanned++
	l.last = seq
	r, err := decodeAudit(seq, data)
	if err != nil {
		return true, err
	}
	if auditMatch(l.f, r) {
		l.page.Items = append(l.page.Items, r)
	}
	return seq >= l.end, nil
}

// readStream reads st through an ephemeral consumer made with cfg
// (consume), handing fn each message in order until fn
// says it is done. The consumer may sit on a replica that lags the leader:
// fn decides from what the leader said where the end is, and readStream
// fetches again until it gets there.
func (s *Store) readStream(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	ctx, cancel := s.readContext(ctx)
	defer cancel()
	return consume(ctx, st, cfg, func(ctx context.Context, fetch func() ([]jetstream.Msg, error)) error {
		return fetchLoop(cfg.FilterSubject, fetch, fn, func() (bool, error) {
			return false, pause(ctx, func() string { return cfg.FilterSubject })
		})
	})
}

// readContext bounds a read by the write timeout when ctx has no
// deadline, and is still ended by ctx (a sweep stopped at shutdown must
// not wait out the bound without NATS).
func (s *Store) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opts.WriteTimeout)
}

// DeleteAuditBefore removes audit records (of every workspace) older than
// cutoff, up to batch of them: the stream is purged up to the first record
// not older than cutoff (one request), so a record stored out of time
// order waits, at most a write's duration, for the records stored before
// it. more reports that the batch was full.
//
// A stream MaxAge would do the same without a sweep, but the retention is
// the server's setting (audit retention), applied by its sweeper as for
// bbolt, and a purge needs no stream update when it changes.
func (s *Store) DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (n int, more bool, err error) {
	if err := s.open(); err != nil {
		return 0, false, err
	}
	if batch <= 0 {
		batch = 256
	}
	info, err := s.rest.audit.Info(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("jsstore: audit sweep: %w", err)
	}
	if info.State.Msgs == 0 {
		return 0, false, nil
	}
	var upTo uint64 // the first message to keep
	cfg := jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: info.State.FirstSeq}
	end := info.State.LastSeq
	err = s.readStream(ctx, s.rest.audit, cfg, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		seq := meta.Sequence.Stream
		r, err := decodeAudit(seq, msg.Data())
		if err != nil {
			return true, err
		}
		if !r.Time.Before(cutoff) || n == batch {
			upTo, more = seq, r.Time.Before(cutoff)
			return true, nil
		}
		n++
		if seq >= end {
			upTo = seq + 1
			return true, nil
		}
		return false, nil
	})
	if err != nil || n == 0 {
		return 0, false, err
	}
	if err := s.rest.audit.Purge(ctx, jetstream.WithPurgeSequence(upTo)); err != nil {
		return 0, false, fmt.Errorf("jsstore: audit sweep: %w", err)
	}
	return n, more, nil
}

// auditMatch reports whether r passes f's filters (its workspace is the
// subject's).
func auditMatch(f persistence.AuditFilter, r persistence.AuditRecord) bool {
	switch {
	case f.Action != "" && r.Action != f.Action,
		f.Identity != "" && r.Identity != f.Identity,
		!f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	}
	return true
}
