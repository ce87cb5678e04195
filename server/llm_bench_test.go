package server_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/openai/openaitest"
)

// stampProvider streams n chunks, each carrying the time it was handed to
// the LLM step ("<unix nanos>;"), pace apart.
type stampProvider struct {
	n    int
	pace time.Duration
}

func (p stampProvider) Name() string { return "stamp" }

func (p stampProvider) Stream(ctx context.Context, _ workflows.LLMRequest, onDelta func(string)) (workflows.LLMResponse, error) {
	for i := 0; i < p.n; i++ {
		if err := ctx.Err(); err != nil {
			return workflows.LLMResponse{}, err
		}
		onDelta(strconv.FormatInt(time.Now().UnixNano(), 10) + ";")
		pause(p.pace)
	}
	return workflows.LLMResponse{Text: "done"}, nil
}

// stampServer is the fake OpenAI server streaming n chunks stamped with
// the time each was written, pace apart: on 127.0.0.1 that is when it
// arrives at the provider, give or take a loopback hop.
func stampServer(b *testing.B, n int, pace time.Duration) workflows.Provider {
	p, _ := fakeOpenAI(b, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		for i := 0; i < n; i++ {
			s.Text(strconv.FormatInt(time.Now().UnixNano(), 10) + ";")
			pause(pace)
		}
		s.Finish("stop")
		s.Done()
	})
	return p
}

func pause(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// BenchmarkLLMDeltaLatency measures the time from a chunk arriving at the
// provider to its llm_delta reaching a WebSocket client: the llm_delta
// event appended through the execution actor, group-committed to the
// store with fsync, published on the bus, sequenced by the subscription
// and written to the socket. One execution streams b.N chunks; the client
// subtracts each chunk's stamp from its receipt time. "burst" streams as
// fast as the provider can; "paced" one chunk per millisecond, the rate of
// a fast hosted model.
//
//	go test -run '^$' -bench LLMDeltaLatency -benchtime 2000x ./server/
func BenchmarkLLMDeltaLatency(b *testing.B) {
	for _, provider := range []string{"stub", "openai-http"} {
		for _, pace := range []time.Duration{0, time.Millisecond} {
			name := "burst"
			if pace > 0 {
				name = "paced-" + pace.String()
			}
			b.Run(fmt.Sprintf("provider=%s/%s", provider, name), func(b *testing.B) {
				var p workflows.Provider = stampProvider{n: b.N, pace: pace}
				if provider == "openai-http" {
					p = stampServer(b, b.N, pace)
				}
				benchDeltaLatency(b, p)
			})
		}
	}
}

func benchDeltaLatency(b *testing.B, p workflows.Provider) {
	ts := startServerWithLLM(b, "", p, func(reg *workflows.Registry) {
		workflows.Register(reg, "llm-stamps", func(ctx workflows.Context, _ struct{}) (string, error) {
			resp, err := workflows.LLM(ctx, "stream", workflows.LLMRequest{}, workflows.WithRetry(workflows.NoRetry))
			return resp.Text, err
		})
	})
	c := dial(b, ts, adminToken)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	c.request("r", "workflow.start", map[string]any{"name": "llm-stamps"})
	for {
		f := c.read()
		now := time.Now()
		if f.ID != "r" {
			continue
		}
		if f.Error != nil {
			b.Fatalf("start: %+v", f.Error)
		}
		if f.Type == "llm_delta" {
			text := decode[llmEvent](b, f.event(b).Details).Text
			for _, stamp := range strings.Split(strings.TrimSuffix(text, ";"), ";") {
				ns, err := strconv.ParseInt(stamp, 10, 64)
				if err != nil {
					b.Fatalf("delta %q: %v", text, err)
				}
				lat = append(lat, now.Sub(time.Unix(0, ns)))
			}
		}
		if f.Complete {
			if f.Type != "execution_completed" {
				b.Fatalf("ended with %s: %s", f.Type, f.Data)
			}
			break
		}
	}
	b.StopTimer()
	if len(lat) != b.N {
		b.Fatalf("%d deltas, want %d", len(lat), b.N)
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deltas/s")
}
