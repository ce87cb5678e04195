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

// Greeting is the input of the example workflow.
type Greeting struct {
	Name string `json:"name"`
}

// Embed weft in an application: register a workflow, start a server, start
// an execution through the service layer and follow its events.
func Example() {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "greet", func(ctx workflows.Context, in Greeting) (string, error) {
		return workflows.Task(ctx, "compose", func(context.Context) (string, error) {
			return "hello, " + in.Name, nil
		})
	})
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Registry: reg})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	me := weft.Identity{Name: "app", Workspace: "default", Scopes: []weft.Scope{weft.ScopeAdmin}}
	run, err := srv.Service().Start(ctx, me, actors.StartRequest{Name: "greet", Parameters: json.RawMessage(`{"name":"weft"}`)})
	if err != nil {
		panic(err)
	}
	sub, _ := srv.Service().Subscribe(ctx, me, run.ExecutionID, 0)
	_ = sub.Run(ctx, func(e events.Event) error {
		fmt.Println(e.Seq(), e.Type)
		return nil
	})
	// Output:
	// 1 execution_started
	// 2 workflow_start
	// 3 task_start
	// 4 task_end
	// 5 workflow_end
	// 6 execution_completed
}
