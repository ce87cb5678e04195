package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// ErrFenced refuses an append because another writer appended to the
// execution since this store last did: another node has taken the
// execution over. Nothing of the refused write is stored, and every later
// write of the execution through this store (those already queued
// included) is refused with ErrFenced too, until Forget: the writer should
// stop running the execution. After Forget, a write is checked against the
// log as it is (a deliberate resume).
//
// It is persistence.ErrFenced, so that the actors can react without
// importing this package.
var ErrFenced = persistence.ErrFenced

// execLog is one execution this store appends to: its queue of writes
// and, once read, where its log ends.
//
// Writes of one execution are applied one at a time, in the order they
// were queued, by one goroutine that lives while the queue is not empty
// (the fence of each append is the stream sequence the previous one got,
// so they cannot overlap). Writes of different executions run in
// parallel.
type execLog struct {
	id       string
	queue    []*pendingWrite // guarded by Store.mu
	draining bool            // guarded by Store.mu
	// fenced is set when an append was fenced; it refuses every write
	// until Forget removes the execLog. Owned like state.
	fenced bool
	// state belongs to the goroutine draining the queue (the next one
	// takes it over through Store.mu). nil: read it before the next write.
	state *logState
}

// logState is what a writer knows of an execution's log and record.
type logState struct {
	rec        recordValue
	recRev     uint64
	subject    string
	lastStream uint64 // stream sequence of the log's last message: the next append's fence
	lastSeq    uint64 // weft seq of the log's last event
	stepRevs   stepRevs
	ended      bool
}

// pendingWrite is a persistence.Write encoded for the events stream.
type pendingWrite struct {
	id        string
	firstSeq  uint64
	events    [][]byte
	commit    *commitPart
	commitRaw []byte // nil when the write commits nothing besides events
	nonce     string // makes the message ids of this write unique to it
	done      func(error)
}

// Commit durably applies w, like persistence.Store.Commit: when it returns
// nil, w's events are stored (acknowledged by JetStream) and its
// checkpoints, consumed signals and status applied. It fails with
// persistence.ErrNotFound for an unknown execution, persistence.ErrSeqGap
// when w's events do not continue the log as this store knows it, and
// ErrFenced when another writer appended meanwhile; then nothing of w is
// stored.
//
// If ctx ends first, Commit returns ctx.Err() but w may still commit.
func (s *Store) Commit(ctx context.Context, w persistence.Write) error {
	return waitCommit(ctx, func(done func(error)) { s.CommitAsync(w, done) })
}

// waitCommit starts a commit with commit and waits for its result, or for
// ctx (then the write may still commit).
func waitCommit(ctx context.Context, commit func(done func(error))) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	res := make(chan error, 1)
	commit(func(err error) { res <- err })
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CommitAsync queues w and returns; done, if not nil, is called with
// Commit's result once w is stored (or refused), from the goroutine that
// writes w's execution. Writes of one execution are applied in the order
// they were queued, so the actors may keep several with the store. done
// must not block for long: the execution's next write waits for it.
// Invalid writes and writes after Close get done(err) before CommitAsync
// returns.
func (s *Store) CommitAsync(w persistence.Write, done func(error)) {
	s.commitAsync(w, nil, done)
}

// CommitPrepared is CommitAsync for a write prepared by
// persistence.Prepare: its events go out as the bytes Prepare encoded,
// the ones the actors publish once the write is stored.
func (s *Store) CommitPrepared(p *persistence.Prepared, done func(error)) {
	s.commitAsync(p.Write(), p.Events(), done)
}

// CommitPreparedWait is Commit for a write prepared by persistence.Prepare.
func (s *Store) CommitPreparedWait(ctx context.Context, p *persistence.Prepared) error {
	return waitCommit(ctx, func(done func(error)) { s.CommitPrepared(p, done) })
}

// commitAsync queues w; encoded, when not nil, are w's events already
// encoded (persistence.Prepared.Events).
func (s *Store) commitAsync(w persistence.Write, encoded []events.Stored, done func(error)) {
	p, err := prepareWrite(w, encoded)
	if err == nil {
		p.done = done
		err = s.enqueue(p)
	}
	if err != nil && done != nil {
		done(err)
	}
}

func prepareWrite(w persistence.Write, encoded []events.Stored) (*pendingWrite, error) {
	if w.ExecutionID == "" || len(w.ExecutionID) > maxIDLen {
		return nil, fmt.Errorf("%w: execution id %q", persistence.ErrInvalid, w.ExecutionID)
	}
	p := &pendingWrite{id: w.ExecutionID, nonce: strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)}
	for i, ev := range w.Events {
		if i == 0 {
			p.firstSeq = ev.Seq()
		}
		if want := p.firstSeq + uint64(i); ev.Seq() != want {
			return nil, fmt.Errorf("%w: %s: event %d of the write has seq %d, want %d", persistence.ErrSeqGap, w.ExecutionID, i, ev.Seq(), want)
		}
		if ev.Data.ExecutionID != "" && ev.Data.ExecutionID != w.ExecutionID {
			return nil, fmt.Errorf("%w: event seq %d of %s belongs to %s", persistence.ErrInvalid, ev.Seq(), w.ExecutionID, ev.Data.ExecutionID)
		}
		if len(encoded) == len(w.Events) {
			p.events = append(p.events, encoded[i].JSON)
			continue
		}
		st, err := events.Encode(ev)
		if err != nil {
			return nil, fmt.Errorf("jsstore: %s: %w", w.ExecutionID, err)
		}
		p.events = append(p.events, st.JSON)
	}
	c := &commitPart{Steps: w.Steps, Consume: w.ConsumeSignals}
	for _, st := range w.Steps {
		if st.ID == "" || len(st.ID) > maxIDLen {
			return nil, fmt.Errorf("%w: step id %q of %s", persistence.ErrInvalid, st.ID, w.ExecutionID)
		}
	}
	if w.Status != nil {
		if !w.Status.Status.Valid() {
			return nil, fmt.Errorf("%w: status %q for %s", persistence.ErrInvalid, w.Status.Status, w.ExecutionID)
		}
		c.Status = &statusPart{Status: w.Status.Status, Result: bytes.Clone(w.Status.Result), Error: w.Status.Error, At: w.Status.At, WakeAt: w.Status.WakeAt}
		if c.Status.At.IsZero() {
			c.Status.At = time.Now()
		}
	}
	if !c.empty() {
		// Encoded now, so the caller may reuse w once CommitAsync returns.
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("jsstore: encode the commit of %s: %w", w.ExecutionID, err)
		}
		if c, err = decodeCommit(raw); err != nil {
			return nil, err
		}
		p.commit, p.commitRaw = c, raw
	}
	return p, nil
}

func (s *Store) enqueue(p *pendingWrite) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return persistence.ErrClosed
	}
	l := s.logs[p.id]
	if l == nil {
		l = &execLog{id: p.id}
		s.logs[p.id] = l
	}
	l.queue = append(l.queue, p)
	if !l.draining {
		l.draining = true
		s.drains.Add(1)
		go s.drain(l)
	}
	return nil
}

// drain applies l's queued writes in order and exits when the queue is
// empty. Close waits for it.
func (s *Store) drain(l *execLog) {
	defer s.drains.Done()
	for {
		s.mu.Lock()
		if len(l.queue) == 0 {
			l.draining = false
			if !l.fenced && (l.state == nil || l.state.ended) && s.logs[l.id] == l {
				delete(s.logs, l.id) // nothing worth keeping: read it again if needed
			}
			s.mu.Unlock()
			return
		}
		queued := slices.Clone(l.queue[:min(len(l.queue), maxMerge)])
		s.mu.Unlock()

		ctx, cancel := s.writeContext()
		n, err := s.apply(ctx, l, queued)
		cancel()
		s.mu.Lock()
		clear(l.queue[:n])
		l.queue = l.queue[n:]
		s.mu.Unlock()
		for _, p := range queued[:n] {
			if p.done != nil {
				p.done(err)
			}
		}
	}
}

// Forget drops what the store knows of execution id's log (where it
// ends, the revisions of its record and checkpoints, that it was fenced):
// the next write reads them again from the streams. Call it when this
// node stops running the execution (a lease lost or handed over), and
// before it runs it again. It does nothing while writes of id are queued.
// A drain that has answered its last write but not yet ended (the
// caller's Commit has returned) holds nothing more: its log is dropped
// all the same, and the next write starts a fresh one.
func (s *Store) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.logs[id]; l != nil && len(l.queue) == 0 {
		delete(s.logs, id)
	}
}

// maxMerge bounds how many queued writes of one execution go out as one
// message.
const maxMerge = 64

// apply appends the first of queued (and as many of the following as
// continue it: see merge) to its execution's log, fenced, then applies
// its checkpoints, consumed signals and status. It returns how many
// writes it took, all with the same result.
func (s *Store) apply(ctx context.Context, l *execLog, queued []*pendingWrite) (int, error) {
	p := queued[0]
	if l.fenced {
		return 1, fmt.Errorf("%w: %s (an earlier write was fenced)", ErrFenced, p.id)
	}
	st, err := s.logState(ctx, l)
	if err != nil {
		return 1, err
	}
	if len(p.events) > 0 && p.firstSeq != st.lastSeq+1 {
		return 1, fmt.Errorf("%w: %s: write starts at seq %d, log ends at %d", persistence.ErrSeqGap, p.id, p.firstSeq, st.lastSeq)
	}
	p, n, err := merge(queued, st.lastSeq, s.maxBody/2)
	if err != nil {
		return n, err
	}
	if len(p.events) == 0 && p.commit.empty() {
		return n, nil
	}
	at, err := s.appendWrite(ctx, st, p)
	if err != nil {
		l.state = nil // fenced, or an outcome we cannot know: read the log again
		l.fenced = errors.Is(err, ErrFenced)
		return n, err
	}
	if err := s.project(ctx, st, p.commit, at); err != nil {
		l.state = nil
		return n, fmt.Errorf("jsstore: %s: write stored (stream sequence %d), but applying it failed (the next writer applies it again): %w", p.id, at, err)
	}
	return n, nil
}

// merge joins queued[0] (which continues a log ending at lastSeq) with the
// writes queued after it that continue it in turn, up to maxBytes of
// events: group commit per execution. The actors keep two writes of an
// execution with the store (a step's task_start and its task_end with the
// checkpoint) so that they can share a commit; here they share a message.
// The merged write is atomic as a whole, its checkpoints and consumed
// signals are those of all, in order, and its status the last one's.
func merge(queued []*pendingWrite, lastSeq uint64, maxBytes int) (*pendingWrite, int, error) {
	first := queued[0]
	next := lastSeq + uint64(len(first.events))
	size := eventBytes(first)
	n := 1
	for _, q := range queued[1:] {
		if len(q.events) > 0 && q.firstSeq != next+1 {
			break // a gap (refused on its own turn)
		}
		if size += eventBytes(q) + len(q.commitRaw); size > maxBytes {
			break
		}
		next += uint64(len(q.events))
		n++
	}
	if n == 1 {
		return first, 1, nil
	}
	m := &pendingWrite{id: first.id, nonce: first.nonce, commit: &commitPart{}}
	for _, q := range queued[:n] {
		if len(m.events) == 0 {
			m.firstSeq = q.firstSeq
		}
		m.events = append(m.events, q.events...)
		if q.commit != nil {
			m.commit.Steps = append(m.commit.Steps, q.commit.Steps...)
			m.commit.Consume = append(m.commit.Consume, q.commit.Consume...)
			if q.commit.Status != nil {
				m.commit.Status = q.commit.Status
			}
		}
	}
	if m.commit.empty() {
		m.commit = nil
		return m, n, nil
	}
	raw, err := json.Marshal(m.commit)
	if err != nil {
		return nil, n, fmt.Errorf("jsstore: encode the commit of %s: %w", first.id, err)
	}
	m.commitRaw = raw
	return m, n, nil
}

func eventBytes(p *pendingWrite) int {
	n := 0
	for _, ev := range p.events {
		n += len(ev)
	}
	return n
}

// logState returns l's state, reading it from the streams if this store
// does not know it: the record, where the log ends, and the last write,
// whose checkpoints and status are applied again in case its writer died
// before it had (project is idempotent).
func (s *Store) logState(ctx context.Context, l *execLog) (*logState, error) {
	if l.state != nil {
		return l.state, nil
	}
	rv, rev, err := s.getRecord(ctx, l.id)
	if err != nil {
		return nil, err
	}
	st := &logState{rec: rv, recRev: rev, subject: s.names.eventsSubject(rv.Exec.Workspace, l.id)}
	last, err := s.lastMessage(ctx, st.subject)
	if err != nil {
		return nil, err
	}
	switch {
	case last != nil:
		st.lastStream, st.lastSeq = last.streamSeq, last.seq
		c, err := decodeCommit(last.frame.commit)
		if err != nil {
			return nil, fmt.Errorf("%s at %d: %w", st.subject, last.streamSeq, err)
		}
		if err := s.project(ctx, st, c, last.streamSeq); err != nil {
			return nil, fmt.Errorf("jsstore: %s: apply the last write again: %w", l.id, err)
		}
	case rv.First != nil:
		if st.lastStream, err = s.publishFirst(ctx, rv.Exec, rv.First, rv.FirstCommit); err != nil {
			return nil, err
		}
		st.lastSeq = 1
		if err := s.projectFirst(ctx, st, rv.FirstCommit); err != nil {
			return nil, err
		}
	}
	st.ended = st.rec.Exec.Status.Terminal()
	l.state = st
	return st, nil
}

// appendWrite publishes p, fenced on st.lastStream, and returns the stream
// sequence of its (last) message. A write too large for one message goes
// out as several, each fenced on the one before, its commit part in the
// last.
func (s *Store) appendWrite(ctx context.Context, st *logState, p *pendingWrite) (uint64, error) {
	parts, err := splitEvents(p.events, len(p.commitRaw), s.maxBody)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", persistence.ErrInvalid, p.id, err)
	}
	for i, evs := range parts {
		var commit []byte
		if i == len(parts)-1 {
			commit = p.commitRaw
		}
		seq := st.lastSeq + uint64(len(evs))
		msg := nats.NewMsg(st.subject)
		msg.Header.Set(seqHeader, strconv.FormatUint(seq, 10))
		msg.Data = appendFrame(nil, evs, commit)
		msgID := recordKey(p.id) + ":" + strconv.FormatUint(st.lastStream, 10) + ":" + p.nonce
		ack, err := s.publish(ctx, msg, msgID, st.lastStream)
		at := uint64(0)
		if err == nil {
			at = ack.Sequence
		} else if wrongLast(err) {
			if at, err = s.ownNext(ctx, st, msgID, err); err != nil {
				return 0, err
			}
		} else {
			return 0, fmt.Errorf("jsstore: append to %s: %w", p.id, err)
		}
		st.lastStream, st.lastSeq = at, seq
	}
	return st.lastStream, nil
}

// ownNext tells a fence from a retry of this very append: publish
// retries an attempt that timed out with the same message id, and if
// that attempt was stored, a single server answers the retry "wrong last
// sequence" (it checks the expected sequence before the message id; a
// cluster checks the id first and answers a duplicate). So the message
// that follows the fence on the subject decides: this append's own (its
// message id) means the append is stored there, anything else that
// another writer appended (ErrFenced, wrapping refused).
func (s *Store) ownNext(ctx context.Context, st *logState, msgID string, refused error) (uint64, error) {
	next, err := s.events.GetMsg(ctx, st.lastStream+1, jetstream.WithGetMsgSubject(st.subject))
	switch {
	case err == nil && next.Header.Get(jetstream.MsgIDHeader) == msgID:
		return next.Sequence, nil
	case err == nil || notFound(err):
		return 0, fmt.Errorf("%w: %s (%v)", ErrFenced, st.rec.Exec.ID, refused)
	default:
		return 0, fmt.Errorf("jsstore: append to %s refused (%v), and reading what follows its fence failed: %w", st.rec.Exec.ID, refused, err)
	}
}

// splitEvents cuts evs into groups whose frames fit in maxBody, the last
// with room for a commit part of commitLen bytes. Nearly every write is one
// group; a write is split only past the NATS message size (1 MiB by
// default), which only a long merged run of llm_delta events reaches.
func splitEvents(evs [][]byte, commitLen, maxBody int) ([][][]byte, error) {
	if commitLen+frameOverhead > maxBody {
		return nil, fmt.Errorf("checkpoints and status of %d bytes do not fit in a message of %d", commitLen, maxBody)
	}
	var parts [][][]byte
	var cur [][]byte
	size := frameOverhead
	for _, ev := range evs {
		n := len(ev) + 10
		if n+frameOverhead > maxBody {
			return nil, fmt.Errorf("an event of %d bytes does not fit in a message of %d", len(ev), maxBody)
		}
		if size+n > maxBody {
			parts = append(parts, cur)
			cur, size = nil, frameOverhead
		}
		cur, size = append(cur, ev), size+n
	}
	if size+commitLen > maxBody && len(cur) > 0 {
		parts = append(parts, cur)
		cur = nil
	}
	return append(parts, cur), nil
}
