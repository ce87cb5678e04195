package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

type addIn struct {
	A int `json:"a"`
	B int `json:"b"`
}

// recordingProvider wraps a provider and keeps the requests it saw.
type recordingProvider struct {
	workflows.Provider
	mu   sync.Mutex
	reqs []workflows.LLMRequest
}

func (p *recordingProvider) Stream(ctx context.Context, req workflows.LLMRequest, onDelta func(string)) (workflows.LLMResponse, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	return p.Provider.Stream(ctx, req, onDelta)
}

func (p *recordingProvider) requests() []workflows.LLMRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]workflows.LLMRequest(nil), p.reqs...)
}

func call(name, args string) workflows.ToolCall {
	return workflows.ToolCall{Name: name, Arguments: json.RawMessage(args)}
}

// agentWorkflow registers "agent": an agent loop with the add tool (which
// counts its runs) and the given script and bound.
func agentWorkflow(p workflows.Provider, maxIter int, adds *atomic.Int32) *workflows.Registry {
	add := workflows.NewTool("add", "Adds two integers.", func(_ context.Context, in addIn) (int, error) {
		adds.Add(1)
		if in.A < 0 {
			return 0, workflows.NonRetryable(errors.New("negative numbers are not supported"))
		}
		return in.A + in.B, nil
	})
	reg := workflows.NewRegistry()
	workflows.Register(reg, "agent", func(ctx workflows.Context, _ struct{}) (workflows.AgentResult, error) {
		return workflows.Agent(ctx, "math", workflows.AgentRequest{
			Messages:      []workflows.Message{{Role: "system", Content: "Use tools."}, {Role: "user", Content: "What is (2+3)+(4+5)?"}},
			Tools:         []workflows.AnyTool{add},
			Provider:      p,
			MaxIterations: maxIter,
		})
	})
	return reg
}

func runAgent(t *testing.T, reg *workflows.Registry, j *fakeJournal) (workflows.AgentResult, error) {
	t.Helper()
	out, err := execute(t, reg, "agent", `{}`, j)
	var res workflows.AgentResult
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatal(jerr)
		}
	}
	return res, err
}

func TestAgentRunsTwoToolCallsThenAnswers(t *testing.T) {
	p := &recordingProvider{Provider: workflows.ScriptedProvider{Script: []workflows.LLMResponse{
		{Text: "Adding both pairs.", ToolCalls: []workflows.ToolCall{call("add", `{"a":2,"b":3}`), call("add", `{"a":4,"b":5}`)}},
		{Text: "The answer is 14."},
	}}}
	var adds atomic.Int32
	reg := agentWorkflow(p, 0, &adds)
	j := newJournal()
	res, err := runAgent(t, reg, j)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "The answer is 14." || res.Iterations != 2 || len(res.ToolResults) != 2 || adds.Load() != 2 {
		t.Fatalf("result = %+v, adds %d", res, adds.Load())
	}
	if string(res.ToolResults[0].Output) != "5" || string(res.ToolResults[1].Output) != "9" {
		t.Fatalf("tool results = %+v", res.ToolResults)
	}
	if out, ok := res.LastOutput("add"); !ok || string(out) != "9" {
		t.Fatalf("LastOutput = %s, %v", out, ok)
	}
	steps := eventKinds(j)
	if want := "llm_start,llm_end,tool_start,tool_end,tool_start,tool_end,llm_start,llm_end"; steps != want {
		t.Fatalf("steps = %s\nwant    %s", steps, want)
	}
	// The second model call saw its tool calls answered, by id, in order.
	reqs := p.requests()
	if len(reqs) != 2 || len(reqs[0].Tools) != 1 || reqs[0].Tools[0].Name != "add" {
		t.Fatalf("requests = %+v", reqs)
	}
	msgs := reqs[1].Messages
	if len(msgs) != 5 || msgs[2].Role != "assistant" || len(msgs[2].ToolCalls) != 2 {
		t.Fatalf("second request messages = %+v", msgs)
	}
	for i, want := range []string{"5", "9"} {
		m := msgs[3+i]
		if m.Role != "tool" || m.ToolCallID != msgs[2].ToolCalls[i].ID || m.Content != want {
			t.Fatalf("tool message %d = %+v, want the result %s for call %s", i, m, want, msgs[2].ToolCalls[i].ID)
		}
	}
	if res.Usage.CompletionTokens == 0 || len(res.Messages) != 6 {
		t.Fatalf("usage %+v, %d messages", res.Usage, len(res.Messages))
	}

	// Run again with every step recorded: nothing is called, the result is
	// the same (a restart after the agent finished).
	again := newJournal(j.steps...)
	res2, err := runAgent(t, reg, again)
	if err != nil || res2.Text != res.Text || len(p.requests()) != 2 || adds.Load() != 2 || len(again.types()) != 0 {
		t.Fatalf("replay: %+v, %v; requests %d, adds %d, events %v", res2, err, len(p.requests()), adds.Load(), again.types())
	}
	// And with only the first LLM step recorded: the tools and the second
	// model call run, the first model call does not.
	partial := newJournal(j.steps[0])
	if _, err := runAgent(t, reg, partial); err != nil || len(p.requests()) != 3 || adds.Load() != 4 {
		t.Fatalf("resume: %v; requests %d, adds %d", err, len(p.requests()), adds.Load())
	}
}

func TestAgentFeedsToolErrorsBackToTheModel(t *testing.T) {
	p := &recordingProvider{Provider: workflows.ScriptedProvider{Script: []workflows.LLMResponse{
		{ToolCalls: []workflows.ToolCall{call("multiply", `{"a":2,"b":3}`)}},
		{ToolCalls: []workflows.ToolCall{call("add", `{"a":"two"}`)}},
		{ToolCalls: []workflows.ToolCall{call("add", `{"a":-1,"b":3}`)}},
		{ToolCalls: []workflows.ToolCall{call("add", `{"a":2,"b":3}`)}},
		{Text: "5"},
	}}}
	var adds atomic.Int32
	j := newJournal()
	res, err := runAgent(t, agentWorkflow(p, 0, &adds), j)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "5" || res.Iterations != 5 || adds.Load() != 2 {
		t.Fatalf("result %+v, adds %d", res, adds.Load())
	}
	wantCodes := []string{workflows.CodeToolNotFound, workflows.CodeToolInvalidInput, ""}
	for i, code := range wantCodes {
		if got := res.ToolResults[i].Error; got == nil || got.Code != code {
			t.Fatalf("tool result %d error = %+v, want code %q", i, got, code)
		}
	}
	if res.ToolResults[3].Error != nil || string(res.ToolResults[3].Output) != "5" {
		t.Fatalf("last tool result = %+v", res.ToolResults[3])
	}
	// What the model read after its unknown tool call.
	seen := p.requests()[1].Messages
	var toolMsg struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(seen[len(seen)-1].Content), &toolMsg); err != nil || !strings.Contains(toolMsg.Error, `no tool named "multiply"; the tools are: add`) {
		t.Fatalf("model was told %q", seen[len(seen)-1].Content)
	}
	fails := detailsOf[events.ToolDetails](t, j, events.ToolError)
	if len(fails) != 3 || fails[0].Tool != "multiply" {
		t.Fatalf("tool_error events = %+v", fails)
	}
}

func TestAgentStopsAtMaxIterations(t *testing.T) {
	loop := workflows.LLMResponse{ToolCalls: []workflows.ToolCall{call("add", `{"a":1,"b":1}`)}}
	p := workflows.ScriptedProvider{Script: []workflows.LLMResponse{loop, loop, loop}}
	var adds atomic.Int32
	_, err := runAgent(t, agentWorkflow(p, 2, &adds), newJournal())
	var coded *workflows.CodedError
	if !errors.As(err, &coded) || coded.Code != workflows.CodeMaxIterations || !strings.Contains(err.Error(), "after 2 iterations") {
		t.Fatalf("err = %v, want AGENT_MAX_ITERATIONS", err)
	}
	if adds.Load() != 1 {
		t.Fatalf("tool ran %d times: the calls of the last allowed iteration must not run", adds.Load())
	}
}

func TestAgentEndsOnAFailedModelCall(t *testing.T) {
	p := &stubProvider{results: []func(func(string)) (workflows.LLMResponse, error){
		failWith(workflows.NonRetryable(&workflows.ProviderError{Code: workflows.CodeProviderError, StatusCode: 404, Message: "no such model"})),
	}}
	var adds atomic.Int32
	_, err := runAgent(t, agentWorkflow(p, 0, &adds), newJournal())
	var se *workflows.StepError
	if !errors.As(err, &se) || se.Info.Code != workflows.CodeProviderError || !strings.Contains(err.Error(), "agent math") {
		t.Fatalf("err = %v", err)
	}
}

func TestAgentWithTheDefaultScriptedModel(t *testing.T) {
	var adds atomic.Int32
	res, err := runAgent(t, agentWorkflow(workflows.ScriptedProvider{}, 0, &adds), newJournal())
	if err != nil || res.Iterations != 2 || adds.Load() != 1 || res.Text == "" {
		t.Fatalf("result %+v, err %v, adds %d", res, err, adds.Load())
	}
}

// eventKinds lists the start/end/error events of steps, deltas left out.
func eventKinds(j *fakeJournal) string {
	var out []string
	for _, typ := range j.types() {
		if typ != "workflow_start" && typ != "llm_delta" {
			out = append(out, typ)
		}
	}
	return strings.Join(out, ",")
}
