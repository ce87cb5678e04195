package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/openai"
	"github.com/weft-run/weft/workflows/openai/openaitest"
)

// An LLM step with the real OpenAI-compatible provider against the fake
// server: a 429 is retried by the step's policy, with its events.
func TestLLMRetriesRateLimitThenSucceeds(t *testing.T) {
	fake := openaitest.NewServer(openaitest.Script(
		func(_ openaitest.Request, s *openaitest.Stream) { s.Fail(429, "", "slow down") },
		func(_ openaitest.Request, s *openaitest.Stream) { openaitest.Reply(s, "hello there") },
	))
	defer fake.Close()
	p, err := openai.New(openai.Config{BaseURL: fake.BaseURL(), Model: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	reg := llmWorkflow(p, workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond}))
	j := newJournal()
	out, err := execute(t, reg, "ask", `{}`, j)
	if err != nil || string(out) != `"hello there"` {
		t.Fatalf("out %s, err %v", out, err)
	}
	if got, want := strings.Join(j.types(), ","), "workflow_start,llm_start,llm_error,llm_start,llm_delta,llm_delta,llm_end"; got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	fail := detailsOf[events.LLMDetails](t, j, events.LLMError)[0]
	if fail.WillRetry == nil || !*fail.WillRetry || fail.Error.Code != workflows.CodeRateLimited || !strings.Contains(fail.Error.Message, "slow down") {
		t.Fatalf("llm_error = %+v %+v", fail, fail.Error)
	}
	if start := detailsOf[events.LLMDetails](t, j, events.LLMStart)[0]; start.Provider != "openai" || start.Model != "m-1" {
		t.Fatalf("llm_start names %s/%s, want openai/m-1 (the provider's default model)", start.Provider, start.Model)
	}
	if fake.Count() != 2 {
		t.Fatalf("%d requests, want 2", fake.Count())
	}
}
