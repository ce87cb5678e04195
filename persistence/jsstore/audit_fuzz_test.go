package jsstore

import (
	"errors"
	"strconv"
	"testing"

	"github.com/weft-run/weft/persistence"
)

func TestParseAuditCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1", 1, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"0", 0, false},
		{"", 0, false},
		{"007", 0, false}, // one spelling per cursor
		{"+7", 0, false},
		{"-1", 0, false},
		{"18446744073709551616", 0, false},
		{"0a1b", 0, false},
		{" 7", 0, false},
	} {
		got, err := parseAuditCursor(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("parseAuditCursor(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, persistence.ErrInvalid) {
			t.Errorf("parseAuditCursor(%q) = %v, want ErrInvalid", tc.in, err)
		}
	}
}

// Cursors come from clients and records from the stream: neither may
// panic, a cursor is a stream sequence or ErrInvalid, and a record is a
// record or ErrCorrupt.
func FuzzAuditDecode(f *testing.F) {
	f.Add("42", []byte(`{"time":"2025-03-01T12:00:00Z","workspace":"ws","action":"execution.cancel"}`))
	f.Add("", []byte(`{`))
	f.Add("0x10", []byte(`null`))
	f.Fuzz(func(t *testing.T, cursor string, data []byte) {
		if seq, err := parseAuditCursor(cursor); err == nil {
			if strconv.FormatUint(seq, 10) != cursor || seq == 0 {
				t.Fatalf("cursor %q read as %d", cursor, seq)
			}
		} else if !errors.Is(err, persistence.ErrInvalid) {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
		if _, err := decodeAudit(1, data); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("record %q: %v", data, err)
		}
	})
}
