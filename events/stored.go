package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Stored is one event in the form the store keeps it: its canonical JSON,
// `{"type":"<type>","data":{...}}`, with the seq and type beside it so that
// nobody has to decode the bytes to route or frame them.
//
// An event is encoded once, into these bytes, when its execution actor
// appends it. The same bytes are written to the store, published on the
// bus, and spliced into each subscriber's frame (FrameInto): no event is
// encoded or decoded per subscriber. The bytes are shared: never modify
// them.
type Stored struct {
	Seq  uint64
	Type Type
	JSON []byte
}

// Encode returns e's canonical stored form: the bytes json.Marshal(e)
// would give. It writes them by hand, because json.Marshal re-validates and
// re-compacts Details, which events.New already produced with json.Marshal:
// on a token stream that second pass was a tenth of the server's CPU.
// Details that are not compact JSON (built by hand) take json.Marshal's way.
func Encode(e Event) (Stored, error) {
	if !plainType(e.Type) || !compactJSON(e.Data.Details) {
		return marshal(e)
	}
	d := &e.Data
	b := make([]byte, 0, 160+len(d.ExecutionID)+len(d.Workflow)+len(d.Details))
	b = append(b, typePrefix...)
	b = append(b, e.Type...)
	b = append(b, `","data":{"timestamp":`...)
	var err error
	if b, err = appendTime(b, d.Timestamp); err != nil {
		return marshal(e) // a year json.Marshal refuses: let it say so
	}
	b = append(b, `,"execution_id":`...)
	b = appendJSONString(b, d.ExecutionID)
	b = append(b, `,"workflow":`...)
	b = appendJSONString(b, d.Workflow)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, d.Seq, 10)
	if len(d.Details) > 0 {
		b = append(b, `,"details":`...)
		b = append(b, d.Details...)
	}
	if d.Replay {
		b = append(b, `,"replay":true`...)
	}
	b = append(b, "}}"...)
	return Stored{Seq: d.Seq, Type: e.Type, JSON: b}, nil
}

func marshal(e Event) (Stored, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return Stored{}, fmt.Errorf("encode event %s seq %d: %w", e.Type, e.Seq(), err)
	}
	return Stored{Seq: e.Seq(), Type: e.Type, JSON: raw}, nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	raw, err := t.MarshalJSON()
	return append(b, raw...), err
}

// plainType reports whether t needs no escaping in JSON.
func plainType(t Type) bool { return plainString(string(t)) }

// plainString reports whether json.Marshal writes s as it is between
// quotes: printable ASCII with nothing it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// compactJSON is a cheap check that raw is what json.Marshal would write
// for it unchanged: its first byte opens a value and it holds no
// whitespace outside strings and nothing json.Marshal escapes. It does not
// validate: raw comes from json.Marshal (events.New); a hand-made value
// that fails this takes the slow, validating path.
func compactJSON(raw []byte) bool {
	if len(raw) == 0 {
		return true
	}
	if c := raw[0]; c != '{' && c != '[' && c != '"' {
		return false
	}
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case c == '<' || c == '>' || c == '&':
			return false
		case !inString && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			return false
		}
	}
	if inString {
		return false
	}
	// json.Marshal leaves valid UTF-8 as it is, but for the two line
	// separators JavaScript chokes on.
	return utf8.Valid(raw) && !bytes.Contains(raw, []byte("\u2028")) && !bytes.Contains(raw, []byte("\u2029"))
}

// Decode turns stored bytes back into an Event (replay, history, tests:
// not the live path).
func (s Stored) Decode() (Event, error) {
	var e Event
	if err := json.Unmarshal(s.JSON, &e); err != nil {
		return Event{}, fmt.Errorf("decode event seq %d: %w", s.Seq, err)
	}
	return e, nil
}

// typePrefix opens every canonical event: json.Marshal writes Event's
// fields in declaration order, and no Type needs escaping.
const typePrefix = `{"type":"`

const dataPrefix = `","data":`

// ParseStored reads the seq-keyed bytes of a stored event, which weft
// itself wrote (the store, the bus). Canonical bytes are read without
// decoding: the type is the string after the prefix; the rest is trusted
// to be the JSON that Encode wrote. Bytes laid out otherwise are decoded
// and re-encoded. Untrusted bytes (an import file) go through Canonical.
func ParseStored(seq uint64, raw []byte) (Stored, error) {
	if t, ok := canonicalType(raw); ok {
		return Stored{Seq: seq, Type: t, JSON: raw}, nil
	}
	return Canonical(seq, raw)
}

// Canonical decodes raw, checks that it is the event of seq, and returns it
// re-encoded as Encode would: the bytes of an event weft wrote come back
// unchanged, anything else comes back in the canonical layout.
func Canonical(seq uint64, raw []byte) (Stored, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Stored{}, fmt.Errorf("decode event seq %d: %w", seq, err)
	}
	if e.Seq() != seq {
		return Stored{}, fmt.Errorf("event stored at seq %d says seq %d", seq, e.Seq())
	}
	return Encode(e)
}

// canonicalType returns the type of canonical event bytes, and false when
// raw is not laid out as Encode writes it.
func canonicalType(raw []byte) (Type, bool) {
	if !bytes.HasPrefix(raw, []byte(typePrefix)) || len(raw) == 0 || raw[len(raw)-1] != '}' {
		return "", false
	}
	rest := raw[len(typePrefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	if !bytes.HasPrefix(rest[end:], []byte(dataPrefix)) {
		return "", false
	}
	return Type(rest[:end]), true
}

// DataJSON returns the bytes of the event's `data` object (SSE's data:
// line), sliced out of s.JSON without copying.
func (s Stored) DataJSON() []byte {
	start := len(typePrefix) + len(s.Type) + len(dataPrefix)
	if start >= len(s.JSON) {
		return []byte(`{}`)
	}
	return s.JSON[start : len(s.JSON)-1]
}

// FrameInto appends the socket frame of s for request id to dst and returns
// it: the stored bytes with the request id spliced in front and, for the
// last frame of a stream, "complete":true behind:
//
//	{"id":"r1","type":"task_start","data":{...},"complete":true}
//
// This is the only per-subscriber work an event costs: one copy of its
// bytes, no encoding.
func (s Stored) FrameInto(dst []byte, id string, complete bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, id)
	if len(s.JSON) > 1 {
		dst = append(dst, ',')
		dst = append(dst, s.JSON[1:len(s.JSON)-1]...)
	}
	if complete {
		dst = append(dst, `,"complete":true`...)
	}
	return append(dst, '}')
}

// appendJSONString appends id as a JSON string. Request ids are almost
// always plain ASCII, which needs no escaping; anything else goes through
// encoding/json.
func appendJSONString(dst []byte, id string) []byte {
	if !plainString(id) {
		raw, _ := json.Marshal(id) // a string always encodes
		return append(dst, raw...)
	}
	dst = append(dst, '"')
	dst = append(dst, id...)
	return append(dst, '"')
}

// FrameSize is a capacity for FrameInto's dst that needs no growth.
func (s Stored) FrameSize(id string) int { return len(s.JSON) + len(id) + 32 }
