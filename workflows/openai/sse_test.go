package openai

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line string
		field      string
		value      string
		ok         bool
	}{
		{"blank", "", "", "", false},
		{"data", "data: {\"a\":1}", "data", `{"a":1}`, true},
		{"data without space", "data:{}", "data", "{}", true},
		{"only one space stripped", "data:  x", "data", " x", true},
		{"colon in value", "data: a:b", "data", "a:b", true},
		{"comment", ": keep-alive", "", "keep-alive", true},
		{"event field", "event: message", "event", "message", true},
		{"field without colon", "data", "data", "", true},
		{"empty data", "data:", "data", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field, value, ok := parseLine([]byte(tt.line))
			if field != tt.field || string(value) != tt.value || ok != tt.ok {
				t.Fatalf("parseLine(%q) = %q, %q, %v; want %q, %q, %v", tt.line, field, value, ok, tt.field, tt.value, tt.ok)
			}
		})
	}
}

func TestSSEReaderEvents(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []string
	}{
		{"one event", "data: a\n\n", []string{"a"}},
		{"two events", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"lone cr", "data: a\r\rdata: b\r\r", []string{"a", "b"}},
		{"multi-line data joined by LF", "data: a\ndata: b\n\n", []string{"a\nb"}},
		{"comments and other fields ignored", ": hi\nevent: x\nid: 3\nretry: 10\ndata: a\n\n", []string{"a"}},
		{"event without data skipped", "event: ping\n\ndata: a\n\n", []string{"a"}},
		{"last event without blank line", "data: a\n\ndata: b", []string{"a", "b"}},
		{"extra blank lines", "\n\n\ndata: a\n\n\n\n", []string{"a"}},
		{"empty stream", "", nil},
		{"empty data is an event", "data:\n\n", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per read: line ends split across reads must not matter.
			r := newSSEReader(iotest.OneByteReader(strings.NewReader(tt.stream)))
			var got []string
			for {
				data, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				got = append(got, string(data))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("events = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSEReaderLineTooLong(t *testing.T) {
	r := newSSEReader(strings.NewReader("data: " + strings.Repeat("x", maxLine+1) + "\n\n"))
	if _, err := r.Next(); !errors.Is(err, errLineTooLong) {
		t.Fatalf("err = %v, want errLineTooLong", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"0", 0},
		{"-3", 0},
		{"junk", 0},
		{"999999", 0}, // over a day: not believed
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}
