package peers

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/weft-run/weft/actors"
)

var sampleRequests = []request{
	{op: opBroadcast, sender: "n1", workspace: "acme", room: "lobby", from: "ws_1", identity: "alice", message: json.RawMessage(`{"text":"hi"}`)},
	{op: opBroadcast, sender: "n1", workspace: "acme", room: "", from: "", identity: "workflow:exec_1", message: json.RawMessage(`"x"`)},
	{op: opPresence, sender: "n2", workspace: "acme", room: "a.b c", joined: true, connID: "ws_2", identity: "bob", total: 1000},
	{op: opPresence, sender: "n2", workspace: "acme", room: "r", joined: false, connID: "ws_2", identity: "bob"},
	{op: opRoomSize, sender: "n3", workspace: "acme", room: "r"},
	{op: opMembers, sender: "n3", workspace: "ws", room: "r"},
	{op: opConnections, sender: "n3", workspace: "acme"},
	{op: opSend, sender: "n1", workspace: "acme", connID: "ws_9", from: "ws_1", message: json.RawMessage(`[1,2]`)},
	{op: opClose, sender: "n1", workspace: "acme", connID: "ws_9", reason: "closed by operator"},
}

func TestRequestRoundTrip(t *testing.T) {
	for _, want := range sampleRequests {
		t.Run(want.op.String(), func(t *testing.T) {
			got, err := decodeRequest(want.encode())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v, want %+v", *got, want)
			}
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123, time.UTC)
	tests := []struct {
		op   op
		want reply
	}{
		{opBroadcast, reply{node: "n2", delivered: 3, members: 4}},
		{opRoomSize, reply{node: "n2", members: 7}},
		{opMembers, reply{node: "n2", memberList: []actors.MemberInfo{
			{ConnectionID: "ws_1", Identity: "alice", ConnectedAt: at, Node: "n2"},
			{ConnectionID: "ws_2", Identity: "", ConnectedAt: time.Unix(0, 0).UTC(), Node: "n2"},
		}}},
		{opMembers, reply{node: "n2", memberList: []actors.MemberInfo{}}},
		{opConnections, reply{node: "n3", conns: []actors.ConnectionInfo{
			{ID: "ws_1", Identity: "alice", ConnectedAt: at, Rooms: []string{"a", "b.c"}, Node: "n3"},
			{ID: "ws_2", Identity: "bob", ConnectedAt: at, Rooms: []string{}, Node: "n3"},
		}}},
		{opSend, reply{node: "n1", found: true}},
		{opClose, reply{node: "n1", found: false}},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			got, err := decodeReply(tt.op, tt.want.encode(tt.op))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeRequestRefuses(t *testing.T) {
	good := sampleRequests[0].encode()
	withOp := func(o op, fields ...string) []byte {
		b := []byte{version, byte(o)}
		for _, f := range fields {
			b = appendString(b, f)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version only", []byte{version}},
		{"other version", append([]byte{2}, good[1:]...)},
		{"unknown op", withOp(99, "n1", "acme")},
		{"op zero", withOp(0, "n1", "acme")},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"no sender", withOp(opConnections, "", "acme")},
		{"room size without room", withOp(opRoomSize, "n1", "acme", "")},
		{"close without connection", withOp(opClose, "n1", "acme", "", "bye")},
		{"message not JSON", withOp(opSend, "n1", "acme", "ws_1", "ws_2", "{")},
		{"empty message", withOp(opSend, "n1", "acme", "ws_1", "ws_2", "")},
		{"name not UTF-8", withOp(opConnections, "n1", "\xff")},
		{"name too long", withOp(opConnections, "n1", string(make([]byte, maxName+1)))},
		{"length past the end", append([]byte{version, byte(opConnections)}, binary.AppendUvarint(nil, 1<<40)...)},
		{"bad varint", []byte{version, byte(opConnections), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"presence boolean 2", append(withOp(opPresence, "n1", "acme", "r"), 2)},
		{"presence total past int32", binary.AppendUvarint(append(append(withOp(opPresence, "n1", "acme", "r"), 1), appendString(appendString(nil, "ws_1"), "bob")...), 1<<40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := decodeRequest(tt.data)
			if !errors.Is(err, errMalformed) {
				t.Errorf("decodeRequest = %+v, %v; want errMalformed", q, err)
			}
		})
	}
}

func TestDecodeReplyRefuses(t *testing.T) {
	members := (&reply{node: "n2", memberList: []actors.MemberInfo{{ConnectionID: "ws_1"}}}).encode(opMembers)
	forged := append([]byte{version, byte(opMembers)}, appendString(nil, "n2")...)
	forged = binary.AppendUvarint(forged, 1<<30) // a billion members in a few bytes
	tests := []struct {
		name string
		op   op
		data []byte
	}{
		{"empty (no responders)", opBroadcast, nil},
		{"answer to another op", opRoomSize, members},
		{"no node", opRoomSize, (&reply{members: 1}).encode(opRoomSize)},
		{"forged count", opMembers, forged},
		{"truncated", opMembers, members[:len(members)-1]},
		{"presence has no answer", opPresence, []byte{version, byte(opPresence), 2, 'n', '1'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := decodeReply(tt.op, tt.data)
			if !errors.Is(err, errMalformed) {
				t.Errorf("decodeReply = %+v, %v; want errMalformed", a, err)
			}
		})
	}
}

// FuzzDecodeRequest: whatever arrives on the peers' subjects, decoding
// returns an error or a request that encodes back to the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	for _, q := range sampleRequests {
		f.Add(q.encode())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := decodeRequest(data)
		if err != nil {
			return
		}
		again, err := decodeRequest(q.encode())
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", q, again, err)
		}
	})
}

// FuzzDecodeReply: the same for answers, whatever their operation.
func FuzzDecodeReply(f *testing.F) {
	at := time.Unix(1700000000, 5).UTC()
	f.Add(byte(opBroadcast), (&reply{node: "n", delivered: 1, members: 2}).encode(opBroadcast))
	f.Add(byte(opMembers), (&reply{node: "n", memberList: []actors.MemberInfo{{ConnectionID: "c", Identity: "i", ConnectedAt: at}}}).encode(opMembers))
	f.Add(byte(opConnections), (&reply{node: "n", conns: []actors.ConnectionInfo{{ID: "c", ConnectedAt: at, Rooms: []string{"r"}}}}).encode(opConnections))
	f.Add(byte(opSend), (&reply{node: "n", found: true}).encode(opSend))
	f.Fuzz(func(t *testing.T, o byte, data []byte) {
		a, err := decodeReply(op(o), data)
		if err != nil {
			return
		}
		again, err := decodeReply(op(o), a.encode(op(o)))
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", a, again, err)
		}
	})
}
