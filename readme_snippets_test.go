package weft_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// The Go that README.md shows, compiled: TestREADME wants each ```go block
// of the README to be one of the regions below (between "// readme:NAME"
// and "// readme:end", without their indentation; a region in several
// segments is joined with an empty line). What a block leaves undefined
// (the ctx it runs in, the app's own functions) is declared around them.

// readme:ship
type Order struct {
	ID string `json:"id"`
}

func ship(ctx workflows.Context, o Order) (string, error) {
	label, err := workflows.Task(ctx, "print-label", func(ctx context.Context) (string, error) {
		return printLabel(ctx, o.ID) // side effects belong inside steps
	}, workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 5, InitialInterval: time.Second, Multiplier: 2}))
	if err != nil {
		return "", err
	}
	return label, nil
}

// readme:end

func printLabel(ctx context.Context, id string) (string, error) { return "label " + id, ctx.Err() }

func registerShip() *workflows.Registry {
	// readme:ship
	reg := workflows.NewRegistry()
	workflows.Register(reg, "ship", ship, workflows.Description("Prints a shipping label."))
	// readme:end
	return reg
}

type (
	Approval struct{ OK bool }
	Result   struct{ Total int }
)

func durableWaits(ctx workflows.Context, reg *workflows.Registry, f2 *workflows.Future[int], input any) {
	// readme:durable-waits
	err := workflows.Sleep(ctx, 72*time.Hour)                                            // survives restarts; no goroutine while it waits
	ok, err := workflows.WaitSignal[Approval](ctx, "approve", 24*time.Hour)              // a signal sent earlier is kept for it
	f1 := workflows.Go(ctx, func(ctx workflows.Context) (int, error) { return 42, nil }) // parallel branch, deterministic step ids
	results, err := workflows.All(ctx, f1, f2)                                           // or workflows.First(ctx, f1, f2), recorded
	out, err := workflows.Child[Result](ctx, "other-workflow", input)                    // child workflow, its events in this stream
	workflows.Register(reg, "ship", ship, workflows.ExecutionTimeout(time.Hour))
	// readme:end
	_, _, _, _ = ok, results, out, err
}

func llmStep(ctx workflows.Context, text string) {
	// readme:llm
	resp, err := workflows.LLM(ctx, "summarise", workflows.LLMRequest{
		Messages: []workflows.Message{{Role: "user", Content: "Summarise: " + text}},
	})
	// readme:end
	_, _ = resp, err
}

type orders struct{}

func (orders) Order(ctx context.Context, id string) (Order, error) { return Order{ID: id}, ctx.Err() }

// readme:agent
type OrderQuery struct {
	ID string `json:"id" jsonschema:"description=The order id"`
}

// readme:end

func agent(ctx workflows.Context, db orders, prompt, question string) {
	// readme:agent
	lookup := workflows.NewTool("lookup-order", "Finds an order by id.",
		func(ctx context.Context, in OrderQuery) (Order, error) { return db.Order(ctx, in.ID) })
	res, err := workflows.Agent(ctx, "support", workflows.AgentRequest{
		Messages:      []workflows.Message{{Role: "system", Content: prompt}, {Role: "user", Content: question}},
		Tools:         []workflows.AnyTool{lookup},
		MaxIterations: 5, // model calls; default 10
	})
	// res.Text is the answer; res.LastOutput("lookup-order") the last result of that tool.
	// readme:end
	_, _ = res, err
}

type SearchInput struct {
	OrganizationID string `json:"organization_id"`
}

func search(ctx workflows.Context, in SearchInput) (string, error) { return in.OrganizationID, nil }

func limits(reg *workflows.Registry) {
	// readme:limits
	workflows.Register(reg, "search-candidates", search,
		workflows.MaxConcurrent(20),                    // at most 20 running at once
		workflows.ConcurrencyKey("organization_id", 2), // and 2 per organization
		workflows.MaxStartsPerSecond(50),               // started at most 50/s
		workflows.Version("2", "1"))                    // code version 2, still resumes version-1 executions
	// readme:end
}

func chargeWallet(ctx context.Context) (string, error) { return "wallet", nil }
func chargeCard(ctx context.Context) (string, error)   { return "card", nil }

func patched(ctx workflows.Context) error {
	var err error
	// readme:patched
	if workflows.Patched(ctx, "charge-with-wallet") {
		_, err = workflows.Task(ctx, "charge-wallet", chargeWallet) // new executions
	} else {
		_, err = workflows.Task(ctx, "charge-card", chargeCard) // executions recorded before the change
	}
	// readme:end
	return err
}

func rooms(ctx workflows.Context, reg *workflows.Registry) {
	// readme:rooms
	// Each message broadcast in "chat" starts an execution with
	// {"room","from","identity","message"}; the answer is a recorded step.
	workflows.Register(reg, "chat-bot", func(ctx workflows.Context, in reference.ChatMessage) (string, error) {
		_, err := workflows.Broadcast(ctx, in.Room, map[string]string{"text": "hello " + in.Identity})
		return "answered", err
	}, workflows.OnRoomMessage("chat"))

	err := workflows.Send(ctx, ctx.ConnectionID(), map[string]any{"progress": 50}) // the socket that started it
	// readme:end
	_ = err
}

func goClient(ctx context.Context, token string) {
	// readme:go-client
	c, err := client.Dial(ctx, "http://127.0.0.1:8080", client.Options{ // or ws://127.0.0.1:8080/api/v1/socket, 127.0.0.1:8080
		Token:                  token, // Auth: client.AuthHeader (default), AuthQuery, AuthSubprotocol, AuthInBand
		QueueWhileDisconnected: 100,   // 0 = fail fast while reconnecting
	})
	defer c.Close(ctx)
	exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 3, "delay_ms": 100})
	for ev := range exec.Events() { // or exec.Chan(), exec.Next(ctx)
		fmt.Println(ev.Seq, ev.Type)
	}
	result, err := exec.Result(ctx) // *client.ExecutionError if it failed or was cancelled

	room, _, err := c.Join(ctx, "support", client.WithPresence(client.Presence{
		OnJoined: func(p client.PresenceEvent) { log.Println(p.Identity, "joined") },
		OnLeft:   func(p client.PresenceEvent) { log.Println(p.Identity, "left") },
	}), client.WithRoomMessages(func(m client.Message) { log.Println(m.Identity, string(m.Body)) }))
	room.Broadcast(ctx, map[string]string{"text": "hi"})
	c.OnMessage(func(m client.Message) { log.Println(string(m.Body)) }) // connection.send pushes
	// readme:end
	_, _ = result, err
}

func embedding(tp trace.TracerProvider) error {
	// readme:embedding
	reg := workflows.NewRegistry()
	workflows.Register(reg, "ship", ship)
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	srv, err := server.New(server.Config{
		Addr: "127.0.0.1:8080", DataDir: "./weft-data", Registry: reg,
		Logger:         &log, // default: no logs
		TracerProvider: tp,   // default nil: no tracing (see Tracing)
	})
	if err != nil {
		return err
	}
	if token := srv.BootstrapToken(); token != "" {
		fmt.Println("admin token:", token) // only on the start that created keys.json
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.Run(ctx) // graceful shutdown when ctx ends; SIGHUP reloads the keys
	// readme:end
	return err
}
