package client_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/weft-run/weft/client"
)

// Start a workflow and print its events as they stream; the client
// reconnects and resumes by itself if the connection drops.
func Example() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws://127.0.0.1:8080/api/v1/socket", client.Options{
		Token:                  os.Getenv("WEFT_TOKEN"),
		QueueWhileDisconnected: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 3, "delay_ms": 100})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range exec.Events() {
		fmt.Println(ev.Seq, ev.Type)
	}
	result, err := exec.Result(ctx)
	fmt.Println(string(result), err)
}
