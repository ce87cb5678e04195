package peers

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/weft-run/weft/actors"
)

// version is the first byte of every request and answer; a node refuses
// others (nodes of two versions share a cluster during an upgrade: a new
// encoding needs a new version that both read first).
const version = 1

// op is what a request asks.
type op byte

const (
	opBroadcast   op = iota + 1 // room.broadcast (room "": the workspace)
	opPresence                  // room.joined / room.left; no answer
	opRoomSize                  // members of a room
	opMembers                   // room.members
	opConnections               // connections.list
	opSend                      // connection.send
	opClose                     // connection.close
)

var opNames = [...]string{opBroadcast: "broadcast", opPresence: "presence", opRoomSize: "room_size",
	opMembers: "members", opConnections: "connections", opSend: "send", opClose: "close"}

func (o op) String() string {
	if o >= opBroadcast && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// Bounds of what a request may carry. Names are bounded well above what
// weft accepts (a room is at most 128 characters); a message is bounded
// by NATS's max payload.
const (
	maxName  = 1024
	maxCount = math.MaxInt32
)

var errMalformed = errors.New("peers: malformed message")

// request is any request, decoded; which fields are set depends on op.
type request struct {
	op              op
	sender          string // node id
	workspace, room string
	from, identity  string          // broadcast; identity also presence
	message         json.RawMessage // broadcast, send
	connID          string          // presence, send, close
	joined          bool            // presence
	total           int             // presence
	reason          string          // close
}

func (q *request) encode() []byte {
	b := []byte{version, byte(q.op)}
	b = appendString(b, q.sender)
	b = appendString(b, q.workspace)
	switch q.op {
	case opBroadcast:
		b = appendString(b, q.room)
		b = appendString(b, q.from)
		b = appendString(b, q.identity)
		b = appendString(b, string(q.message))
	case opPresence:
		b = appendString(b, q.room)
		b = append(b, boolByte(q.joined))
		b = appendString(b, q.connID)
		b = appendString(b, q.identity)
		b = binary.AppendUvarint(b, uint64(q.total))
	case opRoomSize, opMembers:
		b = appendString(b, q.room)
	case opSend:
		b = appendString(b, q.connID)
		b = appendString(b, q.from)
		b = appendString(b, string(q.message))
	case opClose:
		b = appendString(b, q.connID)
		b = appendString(b, q.reason)
	}
	return b
}

// decodeRequest reads a request and checks it: any byte string gets
// either a request weft can act on or an error, never a panic.
func decodeRequest(data []byte) (*request, error) {
	r := reader{b: data}
	if v := r.byte(); r.err == nil && v != version {
		return nil, fmt.Errorf("%w: version %d", errMalformed, v)
	}
	q := &request{op: op(r.byte())}
	q.sender = r.name()
	q.workspace = r.name()
	switch q.op {
	case opBroadcast:
		q.room = r.name()
		q.from = r.name()
		q.identity = r.name()
		q.message = r.json()
	case opPresence:
		q.room = r.name()
		q.joined = r.bool()
		q.connID = r.name()
		q.identity = r.name()
		q.total = r.count()
	case opRoomSize, opMembers:
		q.room = r.name()
	case opConnections:
	case opSend:
		q.connID = r.name()
		q.from = r.name()
		q.message = r.json()
	case opClose:
		q.connID = r.name()
		q.reason = r.text()
	default:
		r.fail("unknown operation %d", byte(q.op))
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	return q, nil
}

// check refuses a request whose fields cannot name what it acts on.
func (q *request) check() error {
	missing := ""
	switch {
	case q.sender == "":
		missing = "sender"
	case q.op != opBroadcast && q.op != opConnections && q.op != opSend && q.op != opClose && q.room == "":
		missing = "room"
	case (q.op == opPresence || q.op == opSend || q.op == opClose) && q.connID == "":
		missing = "connection id"
	}
	if missing != "" {
		return fmt.Errorf("%w: %s without %s", errMalformed, q.op, missing)
	}
	return nil
}

// reply is any answer, decoded; which fields are set depends on the op of
// its request.
type reply struct {
	node               string
	delivered, members int                     // broadcast; members also room size
	memberList         []actors.MemberInfo     // members
	conns              []actors.ConnectionInfo // connections
	found              bool                    // send, close
}

func (a *reply) encode(o op) []byte {
	b := []byte{version, byte(o)}
	b = appendString(b, a.node)
	switch o {
	case opBroadcast:
		b = binary.AppendUvarint(b, uint64(a.delivered))
		b = binary.AppendUvarint(b, uint64(a.members))
	case opRoomSize:
		b = binary.AppendUvarint(b, uint64(a.members))
	case opMembers:
		b = binary.AppendUvarint(b, uint64(len(a.memberList)))
		for _, m := range a.memberList {
			b = appendString(b, m.ConnectionID)
			b = appendString(b, m.Identity)
			b = binary.AppendVarint(b, m.ConnectedAt.UnixNano())
		}
	case opConnections:
		b = binary.AppendUvarint(b, uint64(len(a.conns)))
		for _, c := range a.conns {
			b = appendString(b, c.ID)
			b = appendString(b, c.Identity)
			b = binary.AppendVarint(b, c.ConnectedAt.UnixNano())
			b = binary.AppendUvarint(b, uint64(len(c.Rooms)))
			for _, room := range c.Rooms {
				b = appendString(b, room)
			}
		}
	case opSend, opClose:
		b = append(b, boolByte(a.found))
	}
	return b
}

// decodeReply reads an answer to a request of op o. Lists come back with
// each item's Node set to the answering node.
func decodeReply(o op, data []byte) (*reply, error) {
	r := reader{b: data}
	if v := r.byte(); r.err == nil && v != version {
		return nil, fmt.Errorf("%w: version %d", errMalformed, v)
	}
	if got := op(r.byte()); r.err == nil && got != o {
		return nil, fmt.Errorf("%w: an answer to %s where %s was asked", errMalformed, got, o)
	}
	a := &reply{node: r.name()}
	switch o {
	case opBroadcast:
		a.delivered = r.count()
		a.members = r.count()
	case opRoomSize:
		a.members = r.count()
	case opMembers:
		n := r.items(3) // the shortest member: two empty strings and a time
		a.memberList = make([]actors.MemberInfo, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			m := actors.MemberInfo{ConnectionID: r.name(), Identity: r.name(), ConnectedAt: r.time(), Node: a.node}
			a.memberList = append(a.memberList, m)
		}
	case opConnections:
		n := r.items(4)
		a.conns = make([]actors.ConnectionInfo, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			c := actors.ConnectionInfo{ID: r.name(), Identity: r.name(), ConnectedAt: r.time(), Node: a.node}
			rooms := r.items(1)
			c.Rooms = make([]string, 0, rooms)
			for j := 0; j < rooms && r.err == nil; j++ {
				c.Rooms = append(c.Rooms, r.name())
			}
			a.conns = append(a.conns, c)
		}
	case opSend, opClose:
		a.found = r.bool()
	default:
		r.fail("no answer to %s", o)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if a.node == "" {
		return nil, fmt.Errorf("%w: an answer without its node", errMalformed)
	}
	return a, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// reader reads the fields of a message; the first error sticks and every
// later read returns a zero value.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bool() bool {
	switch c := r.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("boolean %d", c)
		return false
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a non-negative number that fits an int32.
func (r *reader) count() int {
	v := r.uvarint()
	if v > maxCount {
		r.fail("count %d", v)
		return 0
	}
	return int(v)
}

// items reads a list's length, which cannot exceed what the rest of the
// message could hold at minSize bytes an item (so a forged length cannot
// make a large allocation).
func (r *reader) items(minSize int) int {
	n := r.count()
	if r.err == nil && n > len(r.b)/minSize {
		r.fail("%d items in %d bytes", n, len(r.b))
		return 0
	}
	return n
}

func (r *reader) time() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad time")
		return time.Time{}
	}
	r.b = r.b[n:]
	return time.Unix(0, v).UTC()
}

// raw reads a length-prefixed byte string of at most max bytes.
func (r *reader) raw(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) || n > uint64(max) {
		r.fail("a string of %d bytes", n)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// name reads a UTF-8 string of at most maxName bytes.
func (r *reader) name() string {
	s := r.raw(maxName)
	if r.err == nil && !utf8.Valid(s) {
		r.fail("a string that is not UTF-8")
		return ""
	}
	return string(s)
}

// text reads a UTF-8 string of any length.
func (r *reader) text() string {
	s := r.raw(len(r.b))
	if r.err == nil && !utf8.Valid(s) {
		r.fail("a string that is not UTF-8")
		return ""
	}
	return string(s)
}

// json reads a JSON value (a message pushed to sockets as it is).
func (r *reader) json() json.RawMessage {
	s := r.raw(len(r.b))
	if r.err == nil && (len(s) == 0 || !json.Valid(s)) {
		r.fail("a message that is not JSON")
		return nil
	}
	return append(json.RawMessage(nil), s...)
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the end", len(r.b))
	}
	return r.err
}
