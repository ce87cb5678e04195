// Command goclient starts search-candidates on a weft server with the Go
// client and prints its events as they stream, then the result.
//
//	go run ./examples/goclient -server ws://127.0.0.1:8080/api/v1/socket -token <token>
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"github.com/weft-run/weft/client"
)

func main() {
	server := flag.String("server", envOr("WEFT_SERVER", "ws://127.0.0.1:8080/api/v1/socket"), "weft socket URL")
	token := flag.String("token", os.Getenv("WEFT_TOKEN"), "API token (or WEFT_TOKEN)")
	query := flag.String("query", "senior Go engineer, Berlin", "user_query")
	flag.Parse()
	if err := run(*server, *token, *query); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(server, token, query string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := client.Dial(ctx, server, client.Options{
		Token:                  token,
		QueueWhileDisconnected: 100,
		OnStateChange: func(s client.State, err error) {
			slog.Info("connection", "state", s, "err", err)
		},
	})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())

	exec, err := c.Start(ctx, "search-candidates", map[string]any{
		"user_query": query, "organization_id": "org_demo", "filters": map[string]any{},
	})
	if err != nil {
		return err
	}
	fmt.Println("execution", exec.ID())
	for ev := range exec.Events() {
		switch ev.Type {
		case "llm_delta":
			var d struct {
				Text string `json:"text"`
			}
			_ = ev.DecodeDetails(&d)
			fmt.Printf("%4d %-20s %q\n", ev.Seq, ev.Type, d.Text)
		default:
			fmt.Printf("%4d %-20s %s\n", ev.Seq, ev.Type, short(ev.Details))
		}
	}
	result, err := exec.Result(ctx)
	if err != nil {
		return err
	}
	fmt.Println("result", string(result))
	return nil
}

func short(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
