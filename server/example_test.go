package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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

// greetings registers the example workflow "greet": one task.
func greetings() *workflows.Registry {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "greet", func(ctx workflows.Context, in Greeting) (string, error) {
		return workflows.Task(ctx, "compose", func(context.Context) (string, error) {
			return "hello, " + in.Name, nil
		})
	})
	return reg
}

// Embed weft in an application: register a workflow, start a server, start
// an execution through the service layer and follow its events.
func Example() {
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Registry: greetings()})
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

// Run serves until its context ends (in a program: signal.NotifyContext
// with os.Interrupt and SIGTERM), then shuts down gracefully: running
// steps reach a checkpoint, sockets close with 1001, the store is flushed.
func ExampleServer_Run() {
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// For the example, stop as soon as the server says it serves.
	log := zerolog.New(io.Discard).Hook(zerolog.HookFunc(func(_ *zerolog.Event, _ zerolog.Level, msg string) {
		if msg == "weft serving" {
			stop()
		}
	}))
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Registry: greetings(), Logger: &log})
	if err != nil {
		panic(err)
	}
	fmt.Println("stopped:", srv.Run(ctx))
	// Output:
	// stopped: <nil>
}

// A server whose data dir has no keys file creates one with an admin
// token: BootstrapToken returns it on that first start only (show it to
// the operator once; it stays in the keys file).
func ExampleServer_BootstrapToken() {
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	for start := 1; start <= 2; start++ {
		srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			panic(err)
		}
		fmt.Printf("start %d: new token %t, keys file %s\n", start, srv.BootstrapToken() != "", filepath.Base(srv.KeysFile()))
		if err := srv.Shutdown(context.Background()); err != nil {
			panic(err)
		}
	}
	// Output:
	// start 1: new token true, keys file keys.json
	// start 2: new token false, keys file keys.json
}

// weft logs through the zerolog logger it is given (none by default):
// here JSON lines on stderr at warn level and above, each tagged with the
// component or execution it comes from.
func ExampleConfig_logger() {
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Str("service", "my-app").Logger()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Registry: greetings(), Logger: &log})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println("serving on loopback:", srv.Addr() != "127.0.0.1:0")
	_ = srv.Shutdown(context.Background())
	// Output:
	// serving on loopback: true
}

// With a TracerProvider every execution is a span and each of its steps a
// child span. Here the SDK's in-memory exporter collects them; a program
// would use an OTLP exporter with a batch span processor, and shut the
// provider down after the server to flush the last spans.
func ExampleConfig_tracerProvider() {
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Registry: greetings(), TracerProvider: tp})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)
	me := weft.Identity{Name: "app", Workspace: "default", Scopes: []weft.Scope{weft.ScopeAdmin}}
	run, err := srv.Service().Start(ctx, me, actors.StartRequest{
		Name: "greet", Parameters: json.RawMessage(`{"name":"weft"}`),
		// The caller's trace continues into the workflow.
		Metadata: json.RawMessage(`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`),
	})
	if err != nil {
		panic(err)
	}
	sub, _ := srv.Service().Subscribe(ctx, me, run.ExecutionID, 0)
	_ = sub.Run(ctx, func(events.Event) error { return nil }) // until it ends
	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name, s.SpanContext.TraceID())
	}
	// Output:
	// task compose 4bf92f3577b34da6a3ce929d0e0e4736
	// execution greet 4bf92f3577b34da6a3ce929d0e0e4736
}
