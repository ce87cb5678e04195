package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/openai"
	"github.com/weft-run/weft/workflows/openai/openaitest"
)

// newProvider starts a fake server answering with h and a provider
// pointed at it.
func newProvider(t *testing.T, h openaitest.Handler, cfg openai.Config) (*openai.Provider, *openaitest.Server) {
	t.Helper()
	fake := openaitest.NewServer(h)
	t.Cleanup(fake.Close)
	cfg.BaseURL = fake.BaseURL()
	p, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, fake
}

func stream(t *testing.T, p *openai.Provider, req workflows.LLMRequest) ([]string, workflows.LLMResponse, error) {
	t.Helper()
	var deltas []string
	resp, err := p.Stream(context.Background(), req, func(s string) { deltas = append(deltas, s) })
	return deltas, resp, err
}

var hello = workflows.LLMRequest{Messages: []workflows.Message{{Role: "user", Content: "hi"}}}

// providerError checks err's code, retryability and message.
func providerError(t *testing.T, err error, code string, retryable bool, substr string) *workflows.ProviderError {
	t.Helper()
	var pe *workflows.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want a *ProviderError", err, err)
	}
	if pe.Code != code || workflows.IsNonRetryable(err) == retryable || !strings.Contains(err.Error(), substr) {
		t.Fatalf("err = %v (code %s, non-retryable %v); want code %s, retryable %v, containing %q",
			err, pe.Code, workflows.IsNonRetryable(err), code, retryable, substr)
	}
	if info := workflows.ErrorInfo(err); info.Code != code {
		t.Fatalf("ErrorInfo code = %q, want %q", info.Code, code)
	}
	return pe
}

func TestStreamsDeltasInOrderWithUsage(t *testing.T) {
	p, fake := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		openaitest.Reply(s, "Hello brave new world")
	}, openai.Config{APIKey: "sk-test", Model: "gpt-test"})
	deltas, resp, err := stream(t, p, hello)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(deltas, "|"), "Hello |brave |new |world"; got != want {
		t.Fatalf("deltas = %q, want %q", got, want)
	}
	if resp.Text != "Hello brave new world" || resp.FinishReason != "stop" || resp.Model != "fake-1" {
		t.Fatalf("response = %+v", resp)
	}
	if resp.Usage.PromptTokens != 10 || resp.Usage.CompletionTokens != 4 {
		t.Fatalf("usage = %+v, want 10 and 4", resp.Usage)
	}
	req := fake.Requests()[0]
	if !req.Stream || req.StreamOptions == nil || !req.StreamOptions.IncludeUsage {
		t.Fatalf("request did not ask for a stream with usage: %+v", req)
	}
	if req.Model != "gpt-test" || req.Header.Get("Authorization") != "Bearer sk-test" {
		t.Fatalf("model %q, authorization %q", req.Model, req.Header.Get("Authorization"))
	}
	if p.Name() != "openai" || p.DefaultModel() != "gpt-test" {
		t.Fatalf("name %q, default model %q", p.Name(), p.DefaultModel())
	}
}

func TestToolCallsAssembledFromFragments(t *testing.T) {
	p, fake := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		// Two calls whose fragments interleave, as parallel tool calls do.
		s.ToolCall(0, "call_a", "weather", "")
		s.ToolCall(1, "call_b", "weather", `{"ci`)
		s.ToolCall(0, "", "", `{"city":`)
		s.ToolCall(1, "", "", `ty":"Paris"}`)
		s.ToolCall(0, "", "", `"London"}`)
		s.Finish("tool_calls")
		s.Usage(20, 9)
		s.Done()
	}, openai.Config{})
	tool := workflows.NewTool("weather", "Weather in a city.", func(context.Context, struct {
		City string `json:"city"`
	}) (string, error) {
		return "", nil
	})
	req := workflows.LLMRequest{
		Model: "m",
		Messages: []workflows.Message{
			{Role: "user", Content: "weather?"},
			{Role: "assistant", ToolCalls: []workflows.ToolCall{{ID: "c0", Name: "weather", Arguments: json.RawMessage(`{"city":"Rome"}`)}}},
			{Role: "tool", ToolCallID: "c0", Content: `"sunny"`},
		},
		Tools: []workflows.ToolSpec{tool.Spec()},
	}
	deltas, resp, err := stream(t, p, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) != 0 || resp.Text != "" || resp.FinishReason != "tool_calls" {
		t.Fatalf("deltas %q, response %+v", deltas, resp)
	}
	want := []workflows.ToolCall{
		{ID: "call_a", Name: "weather", Arguments: json.RawMessage(`{"city":"London"}`)},
		{ID: "call_b", Name: "weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
	}
	got, _ := json.Marshal(resp.ToolCalls)
	if w, _ := json.Marshal(want); string(got) != string(w) {
		t.Fatalf("tool calls = %s\nwant         %s", got, w)
	}

	// What went on the wire: tools in function format, the assistant's
	// call with content null and arguments as a string, the tool result.
	sent := fake.Requests()[0]
	if len(sent.Tools) != 1 || sent.Tools[0].Type != "function" || sent.Tools[0].Function.Name != "weather" ||
		!strings.Contains(string(sent.Tools[0].Function.Parameters), `"city"`) {
		t.Fatalf("tools sent = %+v", sent.Tools)
	}
	asst := sent.Messages[1]
	if asst.Content != nil || len(asst.ToolCalls) != 1 || asst.ToolCalls[0].Type != "function" ||
		asst.ToolCalls[0].Function.Arguments != `{"city":"Rome"}` {
		t.Fatalf("assistant message sent = %+v", asst)
	}
	if tm := sent.Messages[2]; tm.Role != "tool" || tm.ToolCallID != "c0" || tm.Content == nil || *tm.Content != `"sunny"` {
		t.Fatalf("tool message sent = %+v", tm)
	}
}

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		code       string
		retryable  bool
		after      time.Duration
	}{
		{"429 is rate limited, retried, with its Retry-After", http.StatusTooManyRequests, "2", workflows.CodeRateLimited, true, 2 * time.Second},
		{"500 is retried", http.StatusInternalServerError, "", workflows.CodeProviderError, true, 0},
		{"503 is retried", http.StatusServiceUnavailable, "", workflows.CodeProviderError, true, 0},
		{"401 is not retried", http.StatusUnauthorized, "", workflows.CodeProviderError, false, 0},
		{"404 (unknown model) is not retried", http.StatusNotFound, "", workflows.CodeProviderError, false, 0},
		{"400 is not retried", http.StatusBadRequest, "", workflows.CodeProviderError, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
				s.Fail(tt.status, tt.retryAfter, "Invalid API key provided")
			}, openai.Config{})
			_, _, err := stream(t, p, hello)
			pe := providerError(t, err, tt.code, tt.retryable, "Invalid API key provided")
			if pe.StatusCode != tt.status || pe.RetryAfter != tt.after {
				t.Fatalf("status %d, retry after %s", pe.StatusCode, pe.RetryAfter)
			}
		})
	}
}

func TestMalformedChunkIsANonRetryableError(t *testing.T) {
	p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		s.Text("fine ")
		s.Raw("data: {\"choices\":[{\"delta\":{\"content\":\n\n")
		s.Done()
	}, openai.Config{})
	deltas, _, err := stream(t, p, hello)
	providerError(t, err, workflows.CodeBadResponse, false, "not JSON")
	if strings.Join(deltas, "") != "fine " {
		t.Fatalf("deltas = %q", deltas)
	}
}

func TestStreamDroppedHalfWayIsARetryableError(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(s *openaitest.Stream)
	}{
		{"response ended", func(*openaitest.Stream) {}},
		{"connection cut", func(s *openaitest.Stream) { s.Abort() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
				s.Text("half ")
				s.Text("an ")
				tt.end(s)
			}, openai.Config{})
			deltas, _, err := stream(t, p, hello)
			providerError(t, err, workflows.CodeProviderError, true, "openai")
			if strings.Join(deltas, "") != "half an " {
				t.Fatalf("deltas = %q", deltas)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before func(s *openaitest.Stream) // what the server sends before it stalls
		deltas string
	}{
		{"before the answer", func(*openaitest.Stream) {}, ""},
		{"between chunks", func(s *openaitest.Stream) { s.Text("one ") }, "one "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
				tt.before(s)
				<-s.Context().Done() // stall until the client gives up
			}, openai.Config{IdleTimeout: 50 * time.Millisecond})
			deltas, _, err := stream(t, p, hello)
			providerError(t, err, workflows.CodeProviderTimeout, true, "no data for 50ms")
			if strings.Join(deltas, "") != tt.deltas {
				t.Fatalf("deltas = %q, want %q", deltas, tt.deltas)
			}
		})
	}
}

func TestContextCancelStopsTheStream(t *testing.T) {
	p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		s.Text("first ")
		<-s.Context().Done()
	}, openai.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := p.Stream(ctx, hello, func(string) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var pe *workflows.ProviderError
	if errors.As(err, &pe) {
		t.Fatalf("a cancelled call is not a provider failure: %v", err)
	}
}

func TestOtherStreamShapes(t *testing.T) {
	t.Run("finish_reason without [DONE] is complete", func(t *testing.T) {
		p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
			s.Text("ok")
			s.Finish("stop")
		}, openai.Config{})
		if _, resp, err := stream(t, p, hello); err != nil || resp.Text != "ok" {
			t.Fatalf("resp %+v, err %v", resp, err)
		}
	})
	t.Run("error event in the stream", func(t *testing.T) {
		p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
			s.Text("so far ")
			s.Raw(`data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n")
		}, openai.Config{})
		_, _, err := stream(t, p, hello)
		providerError(t, err, workflows.CodeProviderError, true, "overloaded")
	})
	t.Run("JSON answer instead of a stream", func(t *testing.T) {
		p, _ := newProvider(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
			s.Fail(http.StatusOK, "", "not streaming")
		}, openai.Config{})
		_, _, err := stream(t, p, hello)
		providerError(t, err, workflows.CodeBadResponse, false, "event stream")
	})
	t.Run("server down", func(t *testing.T) {
		fake := openaitest.NewServer(func(int, openaitest.Request, *openaitest.Stream) {})
		url := fake.BaseURL()
		fake.Close()
		p, err := openai.New(openai.Config{BaseURL: url})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = stream(t, p, hello)
		providerError(t, err, workflows.CodeProviderError, true, "request failed")
	})
}

func TestNewChecksTheBaseURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:11434", "ftp://x/v1", "http://", "://"} {
		if _, err := openai.New(openai.Config{BaseURL: u}); err == nil {
			t.Errorf("base URL %q accepted", u)
		}
	}
	if _, err := openai.New(openai.Config{}); err != nil {
		t.Fatalf("default base URL: %v", err)
	}
}
