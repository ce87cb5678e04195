package persistence

import (
	"encoding/binary"
	"time"

	"github.com/weft-run/weft"
)

// Top-level buckets. Names are short because bbolt stores them in every
// branch page that points at them; they are part of the file format, so do
// not rename them.
var (
	bktExecutions  = []byte("executions")   // id -> Execution JSON (LastSeq not kept)
	bktEvents      = []byte("events")       // nested per id: seq (BE uint64) -> Event JSON
	bktSteps       = []byte("steps")        // nested per id: step id -> Step JSON
	bktIdempotency = []byte("idempotency")  // lp(ws) lp(workflow) lp(key) -> id
	bktByWorkspace = []byte("by_workspace") // lp(ws) desc(created) id -> empty
	bktByStatus    = []byte("by_status")    // lp(ws) lp(status) desc(created) id -> empty
	bktUnfinished  = []byte("unfinished")   // asc(created) id -> empty
	bktSignals     = []byte("signals")      // nested per id: signal seq (BE uint64) -> Signal JSON, until consumed
	bktMeta        = []byte("meta")         // the store's own keys (the write probe, see health.go)
)

var allBuckets = [][]byte{
	bktExecutions, bktEvents, bktSteps, bktIdempotency,
	bktByWorkspace, bktByStatus, bktUnfinished, bktSignals,
	bktSchedules, // schedules.go
	bktWaiting,   // waiting.go
	bktMeta,
}

// timeLen is the size of an encoded instant: 8 bytes of seconds and 4 of
// nanoseconds.
const timeLen = 12

// appendLP appends s with a uvarint length prefix. The prefix makes
// composite keys unambiguous whatever bytes the parts hold: a prefix scan for
// workspace "a" can never match workspace "ab".
func appendLP(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTimeAsc appends t so that byte order is time order. Unix seconds with
// the sign bit flipped sort correctly for any time.Time, including the zero
// value, where UnixNano would overflow.
func appendTimeAsc(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// appendTimeDesc appends t so that byte order is newest first, which lets
// List walk its index forwards (simpler cursor logic than walking back).
func appendTimeDesc(b []byte, t time.Time) []byte {
	n := len(b)
	b = appendTimeAsc(b, t)
	for i := n; i < len(b); i++ {
		b[i] = ^b[i]
	}
	return b
}

// position is where an execution sorts in the listing indexes: newest first,
// then by id. It is the suffix shared by by_workspace and by_status keys, so
// a cursor is valid for either.
func position(e *Execution) []byte { return ListPosition(e.CreatedAt, e.ID) }

// ListPosition is where an execution created at created sorts in a
// listing, as bytes whose order is newest first, then by id. A list cursor
// is a position in base64 (ListFilter.Page), the same for every store.
func ListPosition(created time.Time, id string) []byte {
	return append(appendTimeDesc(make([]byte, 0, timeLen+len(id)), created), id...)
}

func workspacePrefix(ws string) []byte { return appendLP(nil, ws) }

func statusPrefix(ws string, st weft.Status) []byte {
	return appendLP(appendLP(nil, ws), string(st))
}

func workspaceKey(e *Execution) []byte {
	return append(workspacePrefix(e.Workspace), position(e)...)
}

func statusKey(e *Execution) []byte {
	return append(statusPrefix(e.Workspace, e.Status), position(e)...)
}

func unfinishedKey(e *Execution) []byte {
	return append(appendTimeAsc(make([]byte, 0, timeLen+len(e.ID)), e.CreatedAt), e.ID...)
}

func idempotencyKey(ws, workflow, key string) []byte {
	return appendLP(appendLP(appendLP(nil, ws), workflow), key)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func seqOf(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
