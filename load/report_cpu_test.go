package load

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBenchParseStat(t *testing.T) {
	// A command name with spaces and parentheses, utime 250, stime 75.
	stat := "1234 (weft (bench) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0"
	s, err := parseStat(1234, stat)
	if err != nil {
		t.Fatal(err)
	}
	if s.user != 2500*time.Millisecond || s.system != 750*time.Millisecond {
		t.Fatalf("user %s system %s", s.user, s.system)
	}
	later := s
	later.user += time.Second
	later.system += time.Second
	later.at = s.at.Add(4 * time.Second)
	c := s.since(later, 1e6)
	if c.Seconds != 2 || c.Cores != 0.5 || c.MicrosPerDelivery != 2 {
		t.Fatalf("%+v", c)
	}
	if _, err := parseStat(1, "garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestBenchSampleSelf(t *testing.T) {
	if _, err := sampleCPU(1 << 30); err == nil {
		t.Fatal("no such process, no error")
	}
	s, err := sampleCPU(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if s.user < 0 || s.system < 0 {
		t.Fatalf("%+v", s)
	}
}

func TestBenchBroadcastMessage(t *testing.T) {
	for _, b := range []int{0, 7, 499, 12345} {
		m := broadcastMessage(b, 100)
		var v struct{ N int }
		if len(m) != 100 || json.Unmarshal(m, &v) != nil || v.N != b {
			t.Fatalf("b %d: %s (%d bytes)", b, m, len(m))
		}
	}
	if got := string(broadcastMessage(3, 0)); got != `{"n":3}` {
		t.Fatalf("unpadded: %s", got)
	}
}

func TestBenchReportCPU(t *testing.T) {
	r := Report{Scenario: "broadcast", ServerCPU: &CPU{PID: 9, Seconds: 1.5, MicrosPerDelivery: 3}, ClientCPU: &CPU{Seconds: 2}}
	var table, js bytes.Buffer
	r.WriteTable(&table)
	if !strings.Contains(table.String(), "server CPU s") || !strings.Contains(table.String(), "server CPU µs per delivery") {
		t.Fatal(table.String())
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"us_per_delivery": 3`) {
		t.Fatal(js.String())
	}
}

func TestBenchMessageNumber(t *testing.T) {
	for frame, want := range map[string]int{
		`{"type":"room.message","data":{"from":"ws_1","identity":"bench","message":{"n":42,"pad":"xx"},"room":"r"}}`: 42,
		`{"data":{"room":"r","message":{ "n" : 7 }},"type":"room.message"}`:                                          7,
		`{"type":"room.message","data":{"message":{"pad":"x","n":3}}}`:                                               3,
	} {
		if n, ok := messageNumber([]byte(frame)); !ok || n != want {
			t.Errorf("%s: %d %v, want %d", frame, n, ok, want)
		}
	}
	for _, frame := range []string{`{"type":"pong","data":{}}`, `{"type":"room.message","data":{"message":{"x":1}}}`, `{"type":"room.joined"`} {
		if _, ok := messageNumber([]byte(frame)); ok {
			t.Errorf("%s: matched", frame)
		}
	}
}

func TestBenchReadAllReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 4)
	got, err := readAll(strings.NewReader("hello, world"), buf)
	if err != nil || string(got) != "hello, world" {
		t.Fatalf("%q %v", got, err)
	}
	again, _ := readAll(strings.NewReader("abc"), got[:0])
	if string(again) != "abc" || &again[0] != &got[0] {
		t.Fatal("buffer not reused")
	}
}
