package jsstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	ev1, ev2 := []byte(`{"type":"task_end","data":{"seq":2}}`), []byte(`{"type":"task_end","data":{"seq":3}}`)
	commit := []byte(`{"consume":[4]}`)
	tests := []struct {
		name   string
		body   []byte
		events [][]byte
		commit []byte
		bad    bool
	}{
		{name: "events and commit", body: appendFrame(nil, [][]byte{ev1, ev2}, commit), events: [][]byte{ev1, ev2}, commit: commit},
		{name: "events only", body: appendFrame(nil, [][]byte{ev1}, nil), events: [][]byte{ev1}},
		{name: "commit only", body: appendFrame(nil, nil, commit), commit: commit},
		{name: "empty write", body: appendFrame(nil, nil, nil)},
		{name: "nothing", body: nil, bad: true},
		{name: "unknown version", body: append([]byte{2}, appendFrame(nil, nil, nil)[1:]...), bad: true},
		{name: "truncated event", body: appendFrame(nil, [][]byte{ev1}, nil)[:10], bad: true},
		{name: "count past the body", body: binary.AppendUvarint([]byte{frameVersion}, 1<<40), bad: true},
		{name: "empty event", body: appendFrame(nil, [][]byte{{}}, nil), bad: true},
		{name: "no commit length", body: appendFrame(nil, [][]byte{ev1}, nil)[:len(appendFrame(nil, [][]byte{ev1}, nil))-1], bad: true},
		{name: "trailing bytes", body: append(appendFrame(nil, nil, commit), 'x'), bad: true},
		{name: "bad uvarint", body: []byte{frameVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFrame(tc.body)
			if tc.bad {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("parseFrame = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.events) != len(tc.events) || !bytes.Equal(f.commit, tc.commit) {
				t.Fatalf("frame = %q %q, want %q %q", f.events, f.commit, tc.events, tc.commit)
			}
			for i := range tc.events {
				if !bytes.Equal(f.events[i], tc.events[i]) {
					t.Fatalf("event %d = %q, want %q", i, f.events[i], tc.events[i])
				}
			}
		})
	}
}

func TestFrameStoredEvents(t *testing.T) {
	evs := [][]byte{
		[]byte(`{"type":"task_start","data":{"timestamp":"2025-03-01T12:00:00Z","execution_id":"e","workflow":"wf","seq":7}}`),
		[]byte(`{"type":"task_end","data":{"timestamp":"2025-03-01T12:00:00Z","execution_id":"e","workflow":"wf","seq":8}}`),
	}
	f, err := parseFrame(appendFrame(nil, evs, nil))
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.storedEvents(8)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Seq != 7 || st[1].Seq != 8 || st[0].Type != "task_start" || !bytes.Equal(st[1].JSON, evs[1]) {
		t.Fatalf("stored = %+v", st)
	}
	if _, err := f.storedEvents(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("two events ending at seq 1: %v, want ErrCorrupt", err)
	}
}

func TestFrameSeq(t *testing.T) {
	tests := []struct {
		header map[string][]string
		want   uint64
		bad    bool
	}{
		{map[string][]string{seqHeader: {"42"}}, 42, false},
		{map[string][]string{}, 0, true},
		{map[string][]string{seqHeader: {"-1"}}, 0, true},
		{map[string][]string{seqHeader: {"1", "2"}}, 0, true},
	}
	for _, tc := range tests {
		got, err := frameSeq(tc.header)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("frameSeq(%v) = %d, %v", tc.header, got, err)
		}
	}
}

// FuzzParseFrame feeds parseFrame arbitrary bodies (a stream holds what
// anyone with publish rights put there): it must refuse, never panic, and
// what it accepts must encode back to a frame that parses the same.
func FuzzParseFrame(f *testing.F) {
	f.Add(appendFrame(nil, [][]byte{[]byte(`{"type":"x"}`)}, []byte(`{"consume":[1]}`)))
	f.Add(appendFrame(nil, nil, nil))
	f.Add([]byte{frameVersion, 0x80})
	f.Fuzz(func(t *testing.T, body []byte) {
		fr, err := parseFrame(body)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := parseFrame(appendFrame(nil, fr.events, fr.commit))
		if err != nil || len(again.events) != len(fr.events) || !bytes.Equal(again.commit, fr.commit) {
			t.Fatalf("re-encoded frame parses as %v, %v", again, err)
		}
		_, _ = decodeCommit(fr.commit)
		_, _ = fr.storedEvents(uint64(len(fr.events)))
	})
}

func TestToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"exec_01HZX-abc", "exec_01HZX-abc"},
		{"", "="},
		{"a.b", "=YS5i"},
		{"*", "=Kg"},
		{">", "=Pg"},
		{"with space", "=d2l0aCBzcGFjZQ"},
		{"=plain", "=PXBsYWlu"},
		{"ünï", "=w7xuw68"},
	}
	for _, tc := range tests {
		got := token(tc.in)
		if got != tc.want {
			t.Errorf("token(%q) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := untoken(got)
		if err != nil || back != tc.in {
			t.Errorf("untoken(%q) = %q, %v; want %q", got, back, err, tc.in)
		}
	}
	for _, bad := range []string{"a.b", "=!!", "", "x y"} {
		if _, err := untoken(bad); err == nil {
			t.Errorf("untoken(%q) accepted it", bad)
		}
	}
}

func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "exec_1", "a.b", "=", "*", ">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := token(s)
		if tok == "" || strings.ContainsAny(tok, ". *>\t\r\n") {
			t.Fatalf("token(%q) = %q is not one subject token", s, tok)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; !(c == '=' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				t.Fatalf("token(%q) = %q holds %q, not valid in a KV key", s, tok, c)
			}
		}
		if back, err := untoken(tok); err != nil || back != s {
			t.Fatalf("untoken(token(%q)) = %q, %v", s, back, err)
		}
	})
}

func TestSplitEvents(t *testing.T) {
	ev := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	tests := []struct {
		name      string
		evs       [][]byte
		commitLen int
		maxBody   int
		want      []int // events per part
		bad       bool
	}{
		{"fits", [][]byte{ev(10), ev(10)}, 5, 1000, []int{2}, false},
		{"no events", nil, 5, 1000, []int{0}, false},
		{"split", [][]byte{ev(300), ev(300), ev(300)}, 0, 700, []int{2, 1}, false},
		{"commit needs its own message", [][]byte{ev(300), ev(300)}, 300, 700, []int{2, 0}, false},
		{"event too large", [][]byte{ev(800)}, 0, 700, nil, true},
		{"commit too large", nil, 800, 700, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := splitEvents(tc.evs, tc.commitLen, tc.maxBody)
			if tc.bad {
				if err == nil {
					t.Fatalf("splitEvents = %d parts, want an error", len(parts))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i, p := range parts {
				got = append(got, len(p))
				commit := 0
				if i == len(parts)-1 {
					commit = tc.commitLen
				}
				if n := len(appendFrame(nil, p, make([]byte, commit))); n > tc.maxBody {
					t.Fatalf("part %d is %d bytes, over %d", i, n, tc.maxBody)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("parts of %v events, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("parts of %v events, want %v", got, tc.want)
				}
			}
		})
	}
}
