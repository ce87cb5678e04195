package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// stubProvider answers each call with the next of its results and counts
// the calls.
type stubProvider struct {
	mu      sync.Mutex
	results []func(onDelta func(string)) (workflows.LLMResponse, error)
	calls   []time.Time // when each call started
	returns []time.Time // when each call returned
}

func (p *stubProvider) Name() string { return "stub" }

func (p *stubProvider) Stream(_ context.Context, _ workflows.LLMRequest, onDelta func(string)) (workflows.LLMResponse, error) {
	p.mu.Lock()
	n := len(p.calls)
	p.calls = append(p.calls, time.Now())
	p.mu.Unlock()
	if n >= len(p.results) {
		return workflows.LLMResponse{}, workflows.NonRetryable(errors.New("stub: no more results"))
	}
	resp, err := p.results[n](onDelta)
	p.mu.Lock()
	p.returns = append(p.returns, time.Now())
	p.mu.Unlock()
	return resp, err
}

func (p *stubProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func answer(text string) func(func(string)) (workflows.LLMResponse, error) {
	return func(onDelta func(string)) (workflows.LLMResponse, error) {
		onDelta(text)
		return workflows.LLMResponse{Text: text}, nil
	}
}

func failWith(err error) func(func(string)) (workflows.LLMResponse, error) {
	return func(func(string)) (workflows.LLMResponse, error) { return workflows.LLMResponse{}, err }
}

// llmWorkflow registers "ask": one LLM step named "ask" with provider p.
func llmWorkflow(p workflows.Provider, opts ...workflows.StepOption) *workflows.Registry {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "ask", func(ctx workflows.Context, _ struct{}) (string, error) {
		resp, err := workflows.LLMWith(ctx, p, "ask", workflows.LLMRequest{
			Messages: []workflows.Message{{Role: "user", Content: "say hello"}},
		}, opts...)
		return resp.Text, err
	})
	return reg
}

// detailsOf decodes the details of the events of one type, in order.
func detailsOf[T any](t *testing.T, j *fakeJournal, typ events.Type) []T {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []T
	for _, e := range j.events {
		if e.Type == typ {
			var d T
			if err := json.Unmarshal(e.Data.Details, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
	}
	return out
}

func TestLLMStepStreamsDeltasThenEnds(t *testing.T) {
	reg := llmWorkflow(workflows.ScriptedProvider{WordsPerChunk: 2, Reply: func(workflows.LLMRequest) workflows.LLMResponse {
		return workflows.LLMResponse{Text: "one two three four five"}
	}})
	j := newJournal()
	out, err := execute(t, reg, "ask", `{}`, j)
	if err != nil || string(out) != `"one two three four five"` {
		t.Fatalf("out %s, err %v", out, err)
	}
	if got, want := strings.Join(j.types(), ","), "workflow_start,llm_start,llm_delta,llm_delta,llm_delta,llm_end"; got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	var deltas []string
	for _, d := range detailsOf[events.LLMDetails](t, j, events.LLMDelta) {
		deltas = append(deltas, d.Text)
	}
	if got := strings.Join(deltas, "|"); got != "one two |three four |five" {
		t.Fatalf("deltas = %q", got)
	}
	start := detailsOf[events.LLMDetails](t, j, events.LLMStart)[0]
	end := detailsOf[events.LLMDetails](t, j, events.LLMEnd)[0]
	if start.Provider != "scripted" || start.StepID != "1" || end.StepID != "1" {
		t.Fatalf("start %+v end %+v", start, end)
	}
	if string(end.Output) != `"one two three four five"` || end.Usage == nil || end.Usage.CompletionTokens != 5 || end.DurationMS == nil {
		t.Fatalf("llm_end = %+v", end)
	}
}

func TestLLMHonoursRetryAfter(t *testing.T) {
	p := &stubProvider{results: []func(func(string)) (workflows.LLMResponse, error){
		failWith(&workflows.ProviderError{Code: workflows.CodeRateLimited, StatusCode: 429, RetryAfter: 150 * time.Millisecond, Message: "busy"}),
		answer("ok"),
	}}
	reg := llmWorkflow(p, workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond}))
	if out, err := execute(t, reg, "ask", `{}`, newJournal()); err != nil || string(out) != `"ok"` {
		t.Fatalf("out %s, err %v", out, err)
	}
	// A lower bound only: the second call may not come sooner.
	if gap := p.calls[1].Sub(p.returns[0]); gap < 150*time.Millisecond {
		t.Fatalf("second call %s after the 429, want at least its Retry-After (150ms)", gap)
	}
}

func TestNonRetryableProviderErrorFailsTheStepAtOnce(t *testing.T) {
	p := &stubProvider{results: []func(func(string)) (workflows.LLMResponse, error){
		failWith(workflows.NonRetryable(&workflows.ProviderError{Code: workflows.CodeProviderError, StatusCode: 401, Message: "openai: HTTP 401: bad key"})),
	}}
	j := newJournal()
	_, err := execute(t, llmWorkflow(p), "ask", `{}`, j)
	var se *workflows.StepError
	if !errors.As(err, &se) || se.Info.Code != workflows.CodeProviderError || !strings.Contains(se.Info.Message, "HTTP 401") {
		t.Fatalf("err = %v, want a StepError with PROVIDER_ERROR", err)
	}
	if p.count() != 1 {
		t.Fatalf("%d calls, want 1", p.count())
	}
	fail := detailsOf[events.LLMDetails](t, j, events.LLMError)[0]
	if fail.WillRetry == nil || *fail.WillRetry {
		t.Fatalf("llm_error will_retry = %v, want false", fail.WillRetry)
	}
}

// TestLLMDefaultRetryPolicyIsForProviders checks that an LLM step without
// WithRetry backs off like LLMRetryPolicy (about 1 s), not like a task
// (200 ms): the pending checkpoint of the first retry wait says so.
func TestLLMDefaultRetryPolicyIsForProviders(t *testing.T) {
	p := &stubProvider{results: []func(func(string)) (workflows.LLMResponse, error){
		failWith(&workflows.ProviderError{Code: workflows.CodeProviderError, StatusCode: 503, Message: "overloaded"}),
		failWith(&workflows.ProviderError{Code: workflows.CodeProviderError, StatusCode: 503, Message: "overloaded"}),
	}}
	j := newJournal()
	// The second wait (about 2 s) would suspend the workflow, which the
	// fake journal refuses with a panic: that ends the run after the first
	// wait.
	_, err := execute(t, llmWorkflow(p), "ask", `{}`, j)
	var pe *workflows.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want the fake journal's refusal to suspend", err)
	}
	pending := j.steps[0]
	if !pending.Pending() || pending.Attempts != 1 {
		t.Fatalf("first checkpoint = %+v, want a pending retry after attempt 1", pending)
	}
	min := time.Duration(float64(workflows.LLMRetryPolicy.InitialInterval) * (1 - workflows.LLMRetryPolicy.Jitter))
	if wait := pending.WakeAt.Sub(pending.StartedAt); wait < min {
		t.Fatalf("first retry wait %s, want at least %s", wait, min)
	}
}

func TestRecordedLLMStepIsNotCalledAgain(t *testing.T) {
	p := &stubProvider{}
	rec, _ := json.Marshal(workflows.LLMResponse{Text: "recorded answer"})
	j := newJournal(checkpoint.Step{ID: "1", Kind: "llm", Name: "ask", Output: rec})
	out, err := execute(t, llmWorkflow(p), "ask", `{}`, j)
	if err != nil || string(out) != `"recorded answer"` {
		t.Fatalf("out %s, err %v", out, err)
	}
	if p.count() != 0 || len(j.types()) != 0 {
		t.Fatalf("provider called %d times, events %v: a recorded step must do nothing", p.count(), j.types())
	}
}

func TestScriptedProviderScriptFollowsTheConversation(t *testing.T) {
	p := workflows.ScriptedProvider{Script: []workflows.LLMResponse{
		{Text: "calling", ToolCalls: []workflows.ToolCall{{Name: "f", Arguments: json.RawMessage(`{"a":1}`)}, {Name: "g", Arguments: json.RawMessage(`not json`)}}},
		{Text: "done"},
	}}
	ask := func(msgs ...workflows.Message) (workflows.LLMResponse, error) {
		return p.Stream(context.Background(), workflows.LLMRequest{Messages: msgs}, func(string) {})
	}
	user := workflows.Message{Role: "user", Content: "go"}
	first, err := ask(user)
	if err != nil || first.Text != "calling" || first.FinishReason != "tool_calls" || len(first.ToolCalls) != 2 {
		t.Fatalf("turn 0 = %+v, %v", first, err)
	}
	if c := first.ToolCalls; c[0].ID != "call_0_0" || c[1].ID != "call_0_1" || string(c[1].Arguments) != `"not json"` {
		t.Fatalf("tool calls = %+v: want ids and recordable arguments", c)
	}
	// The same request always gets the same answer, however often asked.
	if again, _ := ask(user); again.Text != "calling" {
		t.Fatalf("turn 0 asked again = %+v", again)
	}
	asst := workflows.Message{Role: "assistant", ToolCalls: first.ToolCalls}
	if second, err := ask(user, asst, workflows.Message{Role: "tool", Content: "1"}); err != nil || second.Text != "done" || second.FinishReason != "stop" {
		t.Fatalf("turn 1 = %+v, %v", second, err)
	}
	_, err = ask(user, asst, asst)
	if !workflows.IsNonRetryable(err) || !strings.Contains(err.Error(), "no reply for turn 2") {
		t.Fatalf("turn past the script: %v", err)
	}
}

func TestDefaultScriptedReplyCallsTheFirstToolOnce(t *testing.T) {
	tool := workflows.NewTool("lookup", "Looks up.", func(context.Context, struct {
		Query string `json:"query"`
		Limit int    `json:"limit"`
		Tags  []string
	}) (string, error) {
		return "", nil
	})
	req := workflows.LLMRequest{
		Messages: []workflows.Message{{Role: "user", Content: "find go people"}},
		Tools:    []workflows.ToolSpec{tool.Spec()},
	}
	first := workflows.DefaultScriptedReply(req)
	if len(first.ToolCalls) != 1 || first.ToolCalls[0].Name != "lookup" {
		t.Fatalf("first reply = %+v, want a call of lookup", first)
	}
	var args map[string]any
	if err := json.Unmarshal(first.ToolCalls[0].Arguments, &args); err != nil {
		t.Fatal(err)
	}
	if args["query"] != "find go people" || args["limit"] != float64(0) || fmt.Sprint(args["Tags"]) != "[]" {
		t.Fatalf("arguments = %v", args)
	}
	req.Messages = append(req.Messages,
		workflows.Message{Role: "assistant", ToolCalls: first.ToolCalls},
		workflows.Message{Role: "tool", Content: `"3 found"`})
	second := workflows.DefaultScriptedReply(req)
	if len(second.ToolCalls) != 0 || !strings.Contains(second.Text, `"3 found"`) {
		t.Fatalf("second reply = %+v, want an answer quoting the tool result", second)
	}
	if plain := workflows.DefaultScriptedReply(workflows.LLMRequest{Messages: req.Messages[:1]}); plain.Text != "Scripted reply to: find go people" {
		t.Fatalf("reply without tools = %+v", plain)
	}
}
