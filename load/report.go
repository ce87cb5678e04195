package load

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of one scenario.
type Report struct {
	Scenario  string             `json:"scenario"`
	Params    map[string]any     `json:"params"`
	Elapsed   time.Duration      `json:"elapsed_ns"`
	Figures   map[string]float64 `json:"figures"`
	Latencies map[string]Summary `json:"latencies_ms"`
	Errors    int64              `json:"errors"`
	// ErrorKinds counts the errors by kind: the protocol code of an error
	// the server answered, else the error's text (at most 100 bytes).
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// ServerCPU is the server process's CPU time over the measured phase,
	// when its pid is known (a server the tool started, or --server-pid).
	ServerCPU *CPU `json:"server_cpu,omitempty"`
	// ClientCPU is this load tool's CPU time over the same phase (only
	// when the server is another process).
	ClientCPU *CPU `json:"client_cpu,omitempty"`
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// latency is a concurrency-safe HDR histogram of durations (1 µs to 1 min,
// 3 significant digits).
type latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newLatency() *latency {
	return &latency{h: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)}
}

func (l *latency) record(d time.Duration) {
	us := max(d.Microseconds(), 1)
	l.mu.Lock()
	_ = l.h.RecordValue(min(us, l.h.HighestTrackableValue()))
	l.mu.Unlock()
}

func (l *latency) summary() Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count: l.h.TotalCount(),
		P50:   ms(l.h.ValueAtQuantile(50)), P90: ms(l.h.ValueAtQuantile(90)),
		P99: ms(l.h.ValueAtQuantile(99)), Max: ms(l.h.Max()),
	}
}

// WriteTable prints the report for people.
func (r Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nscenario %s (%s)\n", r.Scenario, r.Elapsed.Round(time.Millisecond))
	for _, k := range sortedKeys(r.Params) {
		fmt.Fprintf(w, "  %-28s %v\n", k, r.Params[k])
	}
	for _, k := range sortedKeys(r.Figures) {
		fmt.Fprintf(w, "  %-28s %.1f\n", k, r.Figures[k])
	}
	if len(r.Latencies) > 0 {
		fmt.Fprintf(w, "  %-28s %8s %8s %8s %8s %8s\n", "latency (ms)", "count", "p50", "p90", "p99", "max")
		for _, k := range sortedKeys(r.Latencies) {
			s := r.Latencies[k]
			fmt.Fprintf(w, "  %-28s %8d %8.2f %8.2f %8.2f %8.2f\n", k, s.Count, s.P50, s.P90, s.P99, s.Max)
		}
	}
	if c := r.ServerCPU; c != nil {
		fmt.Fprintf(w, "  %-28s %.3f (user %.3f, system %.3f; %.2f cores; pid %d)\n", "server CPU s", c.Seconds, c.UserSeconds, c.SystemSeconds, c.Cores, c.PID)
		if c.MicrosPerDelivery > 0 {
			fmt.Fprintf(w, "  %-28s %.2f\n", "server CPU µs per delivery", c.MicrosPerDelivery)
		}
	}
	if c := r.ClientCPU; c != nil {
		fmt.Fprintf(w, "  %-28s %.3f (%.2f cores)\n", "load client CPU s", c.Seconds, c.Cores)
	}
	fmt.Fprintf(w, "  %-28s %d\n", "errors", r.Errors)
	for _, k := range sortedKeys(r.ErrorKinds) {
		fmt.Fprintf(w, "  %-28s %d\n", "  "+k, r.ErrorKinds[k])
	}
}

// tally counts errors by kind for Report.ErrorKinds; safe for concurrent
// use.
type tally struct {
	mu    sync.Mutex
	kinds map[string]int64
}

// add counts one error.
func (t *tally) add(err error) { t.addN(errorKind(err.Error()), 1) }

// addN counts n errors of kind (none when n is 0).
func (t *tally) addN(kind string, n int64) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kinds == nil {
		t.kinds = map[string]int64{}
	}
	t.kinds[kind] += n
}

// counts is the tally so far (nil when empty).
func (t *tally) counts() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.kinds)
}

// errorKind is the protocol code that starts msg ("RATE_LIMITED: ..."),
// else msg itself, cut to 100 bytes.
func errorKind(msg string) string {
	if code, _, ok := strings.Cut(msg, ": "); ok && code != "" && strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
		return code
	}
	if len(msg) > 100 {
		msg = msg[:100]
	}
	return msg
}

// WriteJSON prints the report for machines.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Progress receives one status line now and then while a scenario runs.
type Progress func(line string)

func (p Progress) say(format string, args ...any) {
	if p != nil {
		p(strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}
