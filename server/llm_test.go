package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/openai"
	"github.com/weft-run/weft/workflows/openai/openaitest"
)

// startServerWithLLM is startServer with an LLM provider.
func startServerWithLLM(t testing.TB, dir string, llm workflows.Provider, extra ...func(*workflows.Registry)) *testServer {
	t.Helper()
	return bootServer(t, dir, func(c *server.Config) { c.LLM = llm }, extra...)
}

// fakeOpenAI starts the fake chat-completions server and a provider on it.
func fakeOpenAI(t testing.TB, h openaitest.Handler) (*openai.Provider, *openaitest.Server) {
	t.Helper()
	fake := openaitest.NewServer(h)
	t.Cleanup(fake.Close)
	p, err := openai.New(openai.Config{BaseURL: fake.BaseURL(), APIKey: "sk-test", Model: "fake-model"})
	if err != nil {
		t.Fatal(err)
	}
	return p, fake
}

type llmEvent struct {
	StepID   string `json:"step_id"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Text     string `json:"text"`
	Output   string `json:"output"`
	Usage    *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// question is the input of the test workflows.
type question struct {
	Q string `json:"q"`
}

// askWorkflow is one LLM step.
func askWorkflow(reg *workflows.Registry) {
	workflows.Register(reg, "ask", func(ctx workflows.Context, in question) (string, error) {
		resp, err := workflows.LLM(ctx, "ask", workflows.LLMRequest{Messages: []workflows.Message{{Role: "user", Content: in.Q}}})
		return resp.Text, err
	})
}

func TestLLMDeltasReachTheClientBeforeTheStepEnds(t *testing.T) {
	seen := make(chan struct{}) // closed when the client has the first delta
	p, fake := fakeOpenAI(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		s.Text("first ")
		// Hold the rest of the answer until the client has seen the first
		// delta: if deltas waited for the step to end, this would time
		// out and the client would see llm_end before any delta.
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
		case <-s.Context().Done():
			return
		}
		s.Text("second ")
		s.Text("third")
		s.Finish("stop")
		s.Usage(12, 3)
		s.Done()
	})
	ts := startServerWithLLM(t, "", p, askWorkflow)
	c := dial(t, ts, adminToken)
	c.request("r", "workflow.start", map[string]any{"name": "ask", "parameters": question{"count to three"}})
	var frames []frame
	var deltas []string
	for {
		f := c.read()
		if f.ID != "r" {
			continue
		}
		frames = append(frames, f)
		switch f.Type {
		case "llm_delta":
			deltas = append(deltas, decode[llmEvent](t, f.event(t).Details).Text)
			if len(deltas) == 1 {
				close(seen)
			}
		case "llm_end":
			if len(deltas) == 0 {
				t.Fatal("llm_end reached the client before any llm_delta")
			}
		}
		if f.Complete || f.Error != nil {
			break
		}
	}
	checkSeqs(t, frames, 1)
	if got, want := eventTypes(frames), "execution_started,workflow_start,llm_start,llm_delta,llm_delta,llm_delta,llm_end,workflow_end,execution_completed"; got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	if got := strings.Join(deltas, "|"); got != "first |second |third" {
		t.Fatalf("deltas = %q", got)
	}
	start := details[llmEvent](t, frames, "llm_start")
	end := details[llmEvent](t, frames, "llm_end")
	if start.Provider != "openai" || start.Model != "fake-model" {
		t.Fatalf("llm_start = %+v", start)
	}
	if end.Output != "first second third" || end.Usage == nil || end.Usage.PromptTokens != 12 || end.Usage.CompletionTokens != 3 {
		t.Fatalf("llm_end = %+v", end)
	}
	if fake.Count() != 1 || fake.Requests()[0].LastUser() != "count to three" {
		t.Fatalf("requests = %+v", fake.Requests())
	}
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

// mathAgent is an agent with an add tool.
func mathAgent(reg *workflows.Registry) {
	add := workflows.NewTool("add", "Adds two integers.", func(_ context.Context, in addArgs) (int, error) {
		return in.A + in.B, nil
	})
	workflows.Register(reg, "math-agent", func(ctx workflows.Context, in question) (workflows.AgentResult, error) {
		return workflows.Agent(ctx, "math", workflows.AgentRequest{
			Messages: []workflows.Message{{Role: "user", Content: in.Q}},
			Tools:    []workflows.AnyTool{add},
		})
	})
}

func TestAgentLoopAgainstAnOpenAIServer(t *testing.T) {
	p, fake := fakeOpenAI(t, openaitest.Script(
		func(_ openaitest.Request, s *openaitest.Stream) {
			s.Text("Adding. ")
			openaitest.CallTools(s,
				openaitest.Call{ID: "call_1", Name: "add", Arguments: `{"a":2,"b":3}`},
				openaitest.Call{ID: "call_2", Name: "add", Arguments: `{"a":4,"b":5}`})
		},
		func(_ openaitest.Request, s *openaitest.Stream) { openaitest.Reply(s, "The sum is 14.") },
	))
	ts := startServerWithLLM(t, "", p, mathAgent)
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "r", "math-agent", question{"What is (2+3)+(4+5)?"})
	checkSeqs(t, frames, 1)
	var steps []string
	for _, f := range frames {
		if f.Type != "" && f.Type != "llm_delta" {
			steps = append(steps, f.Type)
		}
	}
	want := "execution_started,workflow_start,llm_start,llm_end,tool_start,tool_end,tool_start,tool_end,llm_start,llm_end,workflow_end,execution_completed"
	if got := strings.Join(steps, ","); got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	res := decode[struct {
		Result workflows.AgentResult `json:"result"`
	}](t, frames[len(frames)-1].event(t).Details).Result
	if res.Text != "The sum is 14." || res.Iterations != 2 || len(res.ToolResults) != 2 ||
		string(res.ToolResults[0].Output) != "5" || string(res.ToolResults[1].Output) != "9" {
		t.Fatalf("result = %+v", res)
	}
	// The second request carried the tool results, by call id.
	if fake.Count() != 2 {
		t.Fatalf("%d requests, want 2", fake.Count())
	}
	msgs := fake.Requests()[1].Messages
	if len(msgs) != 4 || len(msgs[1].ToolCalls) != 2 || msgs[1].ToolCalls[1].Function.Arguments != `{"a":4,"b":5}` {
		t.Fatalf("second request = %+v", msgs)
	}
	for i, want := range []string{"5", "9"} {
		m := msgs[2+i]
		if m.Role != "tool" || m.ToolCallID != msgs[1].ToolCalls[i].ID || m.Content == nil || *m.Content != want {
			t.Fatalf("tool message %d = %+v", i, m)
		}
	}
}

func TestSearchCandidatesWithAnOpenAIServer(t *testing.T) {
	p, fake := fakeOpenAI(t, openaitest.Script(
		func(req openaitest.Request, s *openaitest.Stream) {
			args, _ := json.Marshal(map[string]string{"query": req.LastUser(), "criteria": "senior distributed systems"})
			openaitest.CallTools(s, openaitest.Call{ID: "call_r", Name: "rank-candidates", Arguments: string(args)})
		},
		func(_ openaitest.Request, s *openaitest.Stream) { openaitest.Reply(s, "Ada Lovelace fits best.") },
	))
	ts := startServerWithLLM(t, "", p)
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "s", "search-candidates", map[string]any{
		"user_query": "senior go engineer", "organization_id": "org_1", "filters": map[string]string{"location": "London"},
	})
	last := frames[len(frames)-1]
	res := decode[struct {
		Result reference.SearchResult `json:"result"`
	}](t, last.event(t).Details).Result
	if last.Type != "execution_completed" || res.Summary != "Ada Lovelace fits best." || len(res.Candidates) != 2 || res.Candidates[0].ID != "c1" {
		t.Fatalf("%s: %+v", last.Type, res)
	}
	if tools := fake.Requests()[0].Tools; len(tools) != 1 || tools[0].Function.Name != "rank-candidates" {
		t.Fatalf("tools offered = %+v", tools)
	}
}

func TestRecordedLLMStepIsNotCalledAgainAfterRestart(t *testing.T) {
	p, fake := fakeOpenAI(t, func(_ int, _ openaitest.Request, s *openaitest.Stream) {
		openaitest.Reply(s, "remembered answer")
	})
	register := func(reg *workflows.Registry) {
		workflows.Register(reg, "ask-then-wait", func(ctx workflows.Context, in question) (string, error) {
			resp, err := workflows.LLM(ctx, "ask", workflows.LLMRequest{Messages: []workflows.Message{{Role: "user", Content: in.Q}}})
			if err != nil {
				return "", err
			}
			payload, err := workflows.WaitSignal[string](ctx, "go", time.Hour)
			return resp.Text + " / " + payload, err
		})
	}
	dir := t.TempDir()
	ts := startServerWithLLM(t, dir, p, register)
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "ask-then-wait", "parameters": question{"hi"}, "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	waitStatus(t, c, id, "waiting") // the LLM step is recorded, the signal wait suspended
	if fake.Count() != 1 {
		t.Fatalf("%d requests before the restart, want 1", fake.Count())
	}
	ts.stop(t)

	ts2 := startServerWithLLM(t, dir, p, register)
	c2 := dial(t, ts2, adminToken)
	waitStatus(t, c2, id, "waiting") // resumed: run again from the top, waiting again
	if r := c2.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "go", "payload": "now"}); r.Error != nil {
		t.Fatalf("signal: %+v", r.Error)
	}
	snap := waitStatus(t, c2, id, "completed")
	if string(snap.Result) != `"remembered answer / now"` {
		t.Fatalf("result = %s", snap.Result)
	}
	if fake.Count() != 1 {
		t.Fatalf("%d requests in all, want 1: the recorded LLM step was called again", fake.Count())
	}
	frames := c2.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
	checkSeqs(t, frames, 1)
	if count(frames, "llm_start") != 1 || count(frames, "llm_end") != 1 || count(frames, "llm_delta") != 2 {
		t.Fatalf("history = %s: the LLM step's events must appear once", eventTypes(frames))
	}
}
