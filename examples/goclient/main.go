// Command goclient starts search-candidates on a weft server with the Go
// client and prints its events as they stream, then the result.
//
//	go run ./examples/goclient --token <token> "senior Go engineer, Berlin"
//
// --server takes the server's address in any form the weft CLI takes
// (http://127.0.0.1:8080, the default; ws://host:port/api/v1/socket;
// host:port: client.ParseAddress); WEFT_SERVER and WEFT_TOKEN stand in for
// the flags.
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
	server := flag.String("server", envOr("WEFT_SERVER", "http://127.0.0.1:8080"), "weft server address (or WEFT_SERVER)")
	token := flag.String("token", os.Getenv("WEFT_TOKEN"), "API token (or WEFT_TOKEN)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: goclient [--server http://127.0.0.1:8080] [--token T] [query]")
		flag.PrintDefaults()
	}
	flag.Parse()
	query := strings.Join(flag.Args(), " ")
	if query == "" {
		query = "senior Go engineer, Berlin"
	}
	if *token == "" {
		fmt.Fprintln(os.Stderr, "goclient: set --token or WEFT_TOKEN (weft serve prints an admin token on first start)")
		os.Exit(2)
	}
	if err := run(*server, *token, query); err != nil {
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
		return fmt.Errorf("connect to %s: %w", server, err)
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
