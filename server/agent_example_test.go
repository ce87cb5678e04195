package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// Sum is the input of the example's tool.
type Sum struct {
	A int `json:"a" jsonschema:"description=first term"`
	B int `json:"b" jsonschema:"description=second term"`
}

// Question is the input of the example's workflow.
type Question struct {
	Text string `json:"text"`
}

// An agent loop: the model is offered a Go tool, calls it (a durable tool
// step), reads its result and answers. The scripted provider stands in for
// a model so the example runs offline; configure openai.New(...) as the
// server's LLM, or pass it as AgentRequest.Provider, for a real one.
func Example_agent() {
	add := workflows.NewTool("add", "Adds two integers.", func(_ context.Context, in Sum) (int, error) {
		return in.A + in.B, nil
	})
	reg := workflows.NewRegistry()
	workflows.Register(reg, "calculator", func(ctx workflows.Context, q Question) (string, error) {
		res, err := workflows.Agent(ctx, "calculator", workflows.AgentRequest{
			Messages:      []workflows.Message{{Role: "user", Content: q.Text}},
			Tools:         []workflows.AnyTool{add},
			MaxIterations: 3,
		})
		return res.Text, err
	})
	model := workflows.ScriptedProvider{Script: []workflows.LLMResponse{
		{ToolCalls: []workflows.ToolCall{{Name: "add", Arguments: json.RawMessage(`{"a":2,"b":3}`)}}},
		{Text: "2 + 3 = 5"},
	}}

	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Registry: reg, LLM: model})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	me := weft.Identity{Name: "app", Workspace: "default", Scopes: []weft.Scope{weft.ScopeAdmin}}
	run, err := srv.Service().Start(ctx, me, actors.StartRequest{Name: "calculator", Parameters: json.RawMessage(`{"text":"What is 2 + 3?"}`)})
	if err != nil {
		panic(err)
	}
	sub, _ := srv.Service().Subscribe(ctx, me, run.ExecutionID, 0)
	_ = sub.Run(ctx, func(e events.Event) error {
		switch e.Type {
		case events.ToolStart, events.ToolEnd, events.LLMDelta:
			var d struct {
				Tool   string          `json:"tool"`
				Input  json.RawMessage `json:"input"`
				Output json.RawMessage `json:"output"`
				Text   string          `json:"text"`
			}
			_ = json.Unmarshal(e.Data.Details, &d)
			switch e.Type {
			case events.ToolStart:
				fmt.Println(e.Type, d.Tool, string(d.Input))
			case events.ToolEnd:
				fmt.Println(e.Type, d.Tool, string(d.Output))
			default:
				fmt.Printf("%s %q\n", e.Type, d.Text)
			}
		case events.ExecutionCompleted:
			var d struct {
				Result string `json:"result"`
			}
			_ = json.Unmarshal(e.Data.Details, &d)
			fmt.Println(e.Type, d.Result)
		default:
			fmt.Println(e.Type)
		}
		return nil
	})
	// Output:
	// execution_started
	// workflow_start
	// llm_start
	// llm_end
	// tool_start add {"a":2,"b":3}
	// tool_end add 5
	// llm_start
	// llm_delta "2 "
	// llm_delta "+ "
	// llm_delta "3 "
	// llm_delta "= "
	// llm_delta "5"
	// llm_end
	// workflow_end
	// execution_completed 2 + 3 = 5
}
