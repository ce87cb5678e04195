package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft/events"
)

// Packed llm_delta records.
//
// A token stream is thousands of llm_delta events that differ only in
// their timestamp, seq and text: stored one per key, each repeats about
// 180 bytes of JSON (type, execution id, workflow, step id) around a
// few bytes of text, plus bbolt's 16-byte element header and 8-byte key.
// So consecutive deltas of one step are kept as one packed record
// instead, keyed like any event by a seq: the seq of its LAST event. That
// keeps the two properties the log relies on:
//
//   - the last key of events/<id> is the log's last seq (lastSeq, the
//     check that a write continues the log);
//   - Seek(after+1) lands on the record that holds seq after+1, because
//     records cover disjoint, consecutive seq ranges; readers skip the
//     events of that record at or before after.
//
// A record is extended in place while it has room: the next delta of the
// same step (in the same write or a later one) rewrites the log's last
// record under its new last seq. bbolt rewrites that leaf page on every
// append anyway, so this costs no extra page writes.
//
// Every event comes back byte for byte as Encode wrote it: a record keeps
// the event's JSON as four literal pieces shared by all its events and,
// per event, the timestamp (nanoseconds since the previous one) and the
// text. The pieces are cut out of the encoded bytes themselves and an
// event is packed only if the timestamp and seq it is rebuilt from print
// exactly as they were stored; anything else (another zone, a replay
// flag, other details) is stored as plain JSON, as before.
//
// Layout (a plain event starts with '{', a packed record with packMark):
//
//	[0]      packMark
//	[1:9]    first seq, big endian
//	[9:13]   event count, big endian
//	[13:21]  the last event's timestamp, Unix ns, big endian (for appending)
//	uvarint-prefixed pieces a, b, c, d
//	per event: zigzag varint of its timestamp minus the previous one's
//	           (the first: minus zero), uvarint-prefixed text
//
// Event i is a + timestamp JSON + b + seq + c + text + d.

const packMark = 0x01

const packHeaderLen = 21

// packMaxBytes caps a record: past it the next delta starts a new record.
// Two full records and their bbolt element headers and keys (24 bytes)
// fill a 4 KiB leaf page: 2,048 left a half-empty page per record (38
// bytes per delta measured, against 30 with 2,000). Rewriting the tail
// record on each append stays within the leaf page bbolt rewrites anyway.
var packMaxBytes = 2000

// packEnabled turns packing of new writes on. Every reader of events/<id>
// goes through eachEvent (Events, StoredEvents, Export, Import's history
// comparison); lastSeq reads only keys. Tests and benchmarks switch it off
// to compare. A store with packed records cannot be read by a weft built
// before them.
var packEnabled = true

// deltaPack is one encoded llm_delta cut into the pieces of a packed
// record. ok is false for an event that is not packable.
type deltaPack struct {
	ok         bool
	a, b, c, d []byte // slices of the stored JSON
	text       []byte
	ts         int64
}

const (
	deltaHead    = `{"type":"llm_delta","data":{"timestamp":`
	seqField     = `,"seq":`
	textField    = `"text":"`
	deltaTailEnd = `"}}}`
)

// cutDelta returns st's pieces if st is an llm_delta that a packed record
// rebuilds byte for byte.
func cutDelta(e *events.Event, st events.Stored) deltaPack {
	raw := st.JSON
	if st.Type != events.LLMDelta || !bytes.HasPrefix(raw, []byte(deltaHead)) {
		return deltaPack{}
	}
	ts := e.Data.Timestamp.UnixNano()
	var scratch [48]byte
	tsJSON := appendPackedTime(scratch[:0], ts)
	rest := raw[len(deltaHead):]
	if !bytes.HasPrefix(rest, tsJSON) {
		return deltaPack{} // not UTC, or out of UnixNano's range
	}
	afterTS := len(deltaHead) + len(tsJSON)
	// No JSON string holds an unescaped quote, so the first `,"seq":` is
	// the field.
	i := bytes.Index(raw[afterTS:], []byte(seqField))
	if i < 0 {
		return deltaPack{}
	}
	seqAt := afterTS + i + len(seqField)
	digits := strconv.AppendUint(scratch[:0], st.Seq, 10)
	if !bytes.HasPrefix(raw[seqAt:], digits) {
		return deltaPack{}
	}
	afterSeq := seqAt + len(digits)
	j := bytes.Index(raw[afterSeq:], []byte(textField))
	if j < 0 || !bytes.HasSuffix(raw, []byte(deltaTailEnd)) {
		return deltaPack{}
	}
	textAt := afterSeq + j + len(textField)
	textEnd := len(raw) - len(deltaTailEnd)
	if textEnd < textAt || !plainText(raw[textAt:textEnd]) {
		return deltaPack{}
	}
	return deltaPack{
		ok: true,
		a:  raw[:len(deltaHead)], b: raw[afterTS:seqAt], c: raw[afterSeq:textAt], d: raw[textEnd:],
		text: raw[textAt:textEnd], ts: ts,
	}
}

// plainText reports whether every quote in s is escaped, so s is the
// inside of one JSON string (the text field) and not more fields.
func plainText(s []byte) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return false
		}
	}
	return true
}

// appendPackedTime appends the JSON of the UTC instant ns, as
// time.Time.MarshalJSON writes it.
func appendPackedTime(b []byte, ns int64) []byte {
	b = append(b, '"')
	b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// packRecord is the tail record being built or extended by one write.
type packRecord struct {
	buf    []byte
	oldKey []byte // the key it was loaded from, to delete once rewritten
}

func (r *packRecord) firstSeq() uint64 { return binary.BigEndian.Uint64(r.buf[1:9]) }
func (r *packRecord) count() uint32    { return binary.BigEndian.Uint32(r.buf[9:13]) }
func (r *packRecord) lastSeq() uint64  { return r.firstSeq() + uint64(r.count()) - 1 }

// pieces returns the record's a, b, c, d and where its events start.
func packPieces(rec []byte) (p [4][]byte, end int, err error) {
	off := packHeaderLen
	for i := range p {
		n, w := binary.Uvarint(rec[off:])
		if w <= 0 || uint64(len(rec)-off-w) < n {
			return p, 0, errors.New("malformed packed record")
		}
		off += w
		p[i] = rec[off : off+int(n)]
		off += int(n)
	}
	return p, off, nil
}

func newPackRecord(seq uint64, p *deltaPack) *packRecord {
	buf := make([]byte, packHeaderLen, 256)
	buf[0] = packMark
	binary.BigEndian.PutUint64(buf[1:9], seq)
	for _, s := range [][]byte{p.a, p.b, p.c, p.d} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	r := &packRecord{buf: buf}
	r.add(p, 0)
	return r
}

// add appends an event whose pieces match, prev being the last event's
// timestamp.
func (r *packRecord) add(p *deltaPack, prev int64) {
	r.buf = binary.AppendVarint(r.buf, p.ts-prev)
	r.buf = binary.AppendUvarint(r.buf, uint64(len(p.text)))
	r.buf = append(r.buf, p.text...)
	binary.BigEndian.PutUint32(r.buf[9:13], r.count()+1)
	binary.BigEndian.PutUint64(r.buf[13:21], uint64(p.ts))
}

// fits reports whether p can be the next event (seq) of r.
func (r *packRecord) fits(seq uint64, p *deltaPack) bool {
	if r.lastSeq()+1 != seq || len(r.buf)+len(p.text)+12 > packMaxBytes {
		return false
	}
	pieces, _, err := packPieces(r.buf)
	return err == nil && bytes.Equal(pieces[0], p.a) && bytes.Equal(pieces[1], p.b) &&
		bytes.Equal(pieces[2], p.c) && bytes.Equal(pieces[3], p.d)
}

func (r *packRecord) lastTS() int64 { return int64(binary.BigEndian.Uint64(r.buf[13:21])) }

// putEvents appends evs to log, packing runs of packable deltas (packs[i]
// for evs[i]; packs nil: nothing packs) and extending the log's last
// record when it is a packed record the first event continues.
func putEvents(log *bolt.Bucket, evs []events.Stored, packs []deltaPack) error {
	var tail *packRecord
	flush := func() error {
		if tail == nil {
			return nil
		}
		if tail.oldKey != nil {
			if err := log.Delete(tail.oldKey); err != nil {
				return err
			}
		}
		err := log.Put(seqKey(tail.lastSeq()), tail.buf)
		tail = nil
		return err
	}
	for i, ev := range evs {
		if packs == nil || !packs[i].ok {
			if err := flush(); err != nil {
				return err
			}
			if err := log.Put(seqKey(ev.Seq), ev.JSON); err != nil {
				return err
			}
			continue
		}
		p := &packs[i]
		if i == 0 {
			// The log's last record, if this delta continues it.
			k, v := log.Cursor().Last()
			if last := (&packRecord{buf: v}); len(v) > packHeaderLen && v[0] == packMark && last.fits(ev.Seq, p) {
				tail = &packRecord{buf: bytes.Clone(v), oldKey: bytes.Clone(k)}
			}
		}
		if tail != nil && tail.fits(ev.Seq, p) {
			tail.add(p, tail.lastTS())
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		tail = newPackRecord(ev.Seq, p)
	}
	return flush()
}

// errStopEvents ends eachEvent early without an error.
var errStopEvents = errors.New("stop")

// eachEvent calls fn with every event of log after seq after, in seq
// order, with its stored bytes: plain records as bbolt holds them, packed
// ones rebuilt. raw is valid only during the call (copy it to keep it).
// fn returning errStopEvents ends the walk with a nil error.
func eachEvent(log *bolt.Bucket, after uint64, fn func(seq uint64, raw []byte) error) error {
	var scratch []byte
	c := log.Cursor()
	for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
		var err error
		if len(v) > 0 && v[0] == packMark {
			scratch, err = unpack(k, v, after, scratch, fn)
		} else {
			err = fn(seqOf(k), v)
		}
		if errors.Is(err, errStopEvents) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unpack rebuilds the events of the packed record v (key k) after seq
// after, into buf.
func unpack(k, v []byte, after uint64, buf []byte, fn func(seq uint64, raw []byte) error) ([]byte, error) {
	if len(v) < packHeaderLen {
		return buf, fmt.Errorf("persistence: packed record at seq %d is truncated", seqOf(k))
	}
	rec := packRecord{buf: v}
	first, n := rec.firstSeq(), rec.count()
	if n == 0 || rec.lastSeq() != seqOf(k) {
		return buf, fmt.Errorf("persistence: packed record at seq %d holds seqs %d+%d", seqOf(k), first, n)
	}
	p, off, err := packPieces(v)
	if err != nil {
		return buf, fmt.Errorf("persistence: record at seq %d: %w", seqOf(k), err)
	}
	var ts int64
	for i := range uint64(n) {
		d, w := binary.Varint(v[off:])
		if w <= 0 {
			return buf, fmt.Errorf("persistence: packed record at seq %d: bad timestamp of event %d", seqOf(k), i)
		}
		off += w
		l, w := binary.Uvarint(v[off:])
		if w <= 0 || uint64(len(v)-off-w) < l {
			return buf, fmt.Errorf("persistence: packed record at seq %d: bad text of event %d", seqOf(k), i)
		}
		off += w
		text := v[off : off+int(l)]
		off += int(l)
		ts += d
		seq := first + i
		if seq <= after {
			continue
		}
		buf = append(buf[:0], p[0]...)
		buf = appendPackedTime(buf, ts)
		buf = append(buf, p[1]...)
		buf = strconv.AppendUint(buf, seq, 10)
		buf = append(buf, p[2]...)
		buf = append(buf, text...)
		buf = append(buf, p[3]...)
		if err := fn(seq, buf); err != nil {
			return buf, err
		}
	}
	if off != len(v) {
		return buf, fmt.Errorf("persistence: packed record at seq %d has %d trailing bytes", seqOf(k), len(v)-off)
	}
	return buf, nil
}

// cutDeltas computes the packs of a write's events (nil when none packs).
func cutDeltas(w []events.Event, st []events.Stored) []deltaPack {
	if !packEnabled {
		return nil
	}
	var packs []deltaPack
	for i := range st {
		if st[i].Type != events.LLMDelta {
			continue
		}
		if packs == nil {
			packs = make([]deltaPack, len(st))
		}
		packs[i] = cutDelta(&w[i], st[i])
	}
	return packs
}
