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

// Every spelling of a server's address comes to the same socket and HTTP
// URLs; a token in the address is refused.
func ExampleParseAddress() {
	for _, s := range []string{"127.0.0.1:8080", "http://127.0.0.1:8080/", "ws://127.0.0.1:8080/api/v1/socket", "https://example.com/weft"} {
		a, err := client.ParseAddress(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a.Socket(), a.HTTP())
	}
	_, err := client.ParseAddress("ws://127.0.0.1:8080/api/v1/socket?token=secret")
	fmt.Println(client.ErrorCode(err))
	// Output:
	// ws://127.0.0.1:8080/api/v1/socket http://127.0.0.1:8080
	// ws://127.0.0.1:8080/api/v1/socket http://127.0.0.1:8080
	// ws://127.0.0.1:8080/api/v1/socket http://127.0.0.1:8080
	// wss://example.com/weft/api/v1/socket https://example.com/weft
	// INVALID_REQUEST
}

// Stream hands each frame of a multi-frame answer to a function, here the
// stored events of an execution re-sent by execution.replay.
func ExampleClient_Stream() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:8080", client.Options{Token: os.Getenv("WEFT_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	err = c.Stream(ctx, "execution.replay", map[string]any{"execution_id": "exec_..."}, func(f client.Frame) error {
		if f.Event != nil {
			fmt.Println(f.Event.Seq, f.Event.Type)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
