package jsstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// A message of the events stream is one write (or, for a write larger than
// a NATS message, one part of it): the events it appends, each as the
// bytes events.Encode wrote, and what else the write commits (step
// checkpoints, a status, consumed signals). Carrying the whole write in one
// message makes it atomic and fenced as one, and lets whoever resumes the
// execution re-apply the checkpoints and status of the last write if its
// writer died before it could (recover.go).
//
// Body layout:
//
//	[0]        frameVersion
//	uvarint    number of events n
//	n times    uvarint length, the event's stored JSON
//	uvarint    length of the commit part (0: none), its JSON (commitPart)
//
// The header seqHeader holds the seq of the log's last event once this
// message is in: its events are seqs seqHeader-n+1 .. seqHeader, and a
// message without events repeats the seq before it.
const frameVersion = 1

// seqHeader carries weft's seq on every message of the events stream.
const seqHeader = "Weft-Seq"

// frameOverhead is what a frame adds to its parts, at most: the version,
// a count and a length prefix per part (10 bytes each as uvarints).
const frameOverhead = 1 + 10 + 10

// ErrCorrupt is wrapped by errors reading a message of weft's streams that
// weft did not write (or that was damaged).
var ErrCorrupt = errors.New("jsstore: malformed message")

// commitPart is what a write commits besides its events. It is projected
// into the KV buckets after the message is stored.
type commitPart struct {
	Steps   []persistence.Step `json:"steps,omitempty"`
	Status  *statusPart        `json:"status,omitempty"`
	Consume []uint64           `json:"consume,omitempty"`
}

// statusPart is a persistence.StatusUpdate with a JSON form.
type statusPart struct {
	Status weft.Status       `json:"status"`
	Result json.RawMessage   `json:"result,omitempty"`
	Error  *events.ErrorInfo `json:"error,omitempty"`
	At     time.Time         `json:"at"`
	WakeAt time.Time         `json:"wake_at,omitzero"`
}

func (c *commitPart) empty() bool {
	return c == nil || len(c.Steps) == 0 && c.Status == nil && len(c.Consume) == 0
}

// appendFrame appends the frame of evs and commit (nil: none) to dst.
func appendFrame(dst []byte, evs [][]byte, commit []byte) []byte {
	dst = append(dst, frameVersion)
	dst = binary.AppendUvarint(dst, uint64(len(evs)))
	for _, ev := range evs {
		dst = binary.AppendUvarint(dst, uint64(len(ev)))
		dst = append(dst, ev...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(commit)))
	return append(dst, commit...)
}

// frame is a parsed message body. Its slices point into the body.
type frame struct {
	events [][]byte
	commit []byte // nil: none
}

// parseFrame reads a message body. It never panics on bad input: a body
// weft did not write is an error wrapping ErrCorrupt.
func parseFrame(b []byte) (frame, error) {
	var f frame
	if len(b) == 0 || b[0] != frameVersion {
		return f, fmt.Errorf("%w: unknown frame version", ErrCorrupt)
	}
	b = b[1:]
	n, w := binary.Uvarint(b)
	// Each event takes at least its one-byte length prefix.
	if w <= 0 || n > uint64(len(b)) {
		return f, fmt.Errorf("%w: bad event count", ErrCorrupt)
	}
	b = b[w:]
	if n > 0 {
		f.events = make([][]byte, 0, n)
	}
	for i := uint64(0); i < n; i++ {
		var ev []byte
		var err error
		if ev, b, err = lengthPrefixed(b); err != nil {
			return f, fmt.Errorf("%w: event %d: %v", ErrCorrupt, i, err)
		}
		if len(ev) == 0 {
			return f, fmt.Errorf("%w: event %d is empty", ErrCorrupt, i)
		}
		f.events = append(f.events, ev)
	}
	commit, rest, err := lengthPrefixed(b)
	if err != nil {
		return f, fmt.Errorf("%w: commit part: %v", ErrCorrupt, err)
	}
	if len(rest) != 0 {
		return f, fmt.Errorf("%w: %d bytes after the frame", ErrCorrupt, len(rest))
	}
	if len(commit) > 0 {
		f.commit = commit
	}
	return f, nil
}

func lengthPrefixed(b []byte) (part, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, nil, errors.New("bad length")
	}
	b = b[w:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d past the end (%d left)", n, len(b))
	}
	return b[:n], b[n:], nil
}

// decodeCommit reads a frame's commit part (nil when it has none).
func decodeCommit(raw []byte) (*commitPart, error) {
	if raw == nil {
		return nil, nil
	}
	var c commitPart
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: commit part: %v", ErrCorrupt, err)
	}
	return &c, nil
}

// frameSeq reads the seq header of a message.
func frameSeq(h map[string][]string) (uint64, error) {
	v := h[seqHeader]
	if len(v) != 1 {
		return 0, fmt.Errorf("%w: no %s header", ErrCorrupt, seqHeader)
	}
	seq, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s header %q", ErrCorrupt, seqHeader, v[0])
	}
	return seq, nil
}

// storedEvents turns a frame's events into events.Stored, given the seq
// header of its message.
func (f frame) storedEvents(lastSeq uint64) ([]events.Stored, error) {
	n := uint64(len(f.events))
	if n > lastSeq {
		return nil, fmt.Errorf("%w: %d events end at seq %d", ErrCorrupt, n, lastSeq)
	}
	out := make([]events.Stored, len(f.events))
	for i, raw := range f.events {
		st, err := events.ParseStored(lastSeq-n+1+uint64(i), raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out[i] = st
	}
	return out, nil
}
