package inproc_test

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events/inproc"
)

func Example() {
	bus := inproc.New(inproc.Config{QueueSize: 1024})
	defer bus.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := bus.Subscribe(ctx, "executions.exec_1")
	if err != nil {
		panic(err)
	}

	for seq := 1; seq <= 3; seq++ {
		msg := message.NewMessage(fmt.Sprint("exec_1/", seq), []byte(fmt.Sprintf(`{"seq":%d}`, seq)))
		if err := bus.Publish("executions.exec_1", msg); err != nil {
			panic(err)
		}
	}

	for range 3 {
		msg := <-events
		if inproc.Overflowed(msg) {
			// Fell behind: re-read the store from the last seq seen.
			msg.Ack()
			continue
		}
		fmt.Printf("%s %s\n", msg.UUID, msg.Payload)
		msg.Ack() // the next message is sent only after this
	}
	// Output:
	// exec_1/1 {"seq":1}
	// exec_1/2 {"seq":2}
	// exec_1/3 {"seq":3}
}
