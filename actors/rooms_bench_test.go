package actors

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// countingMember stands in for a connection actor: it counts Deliver
// messages and signals when it has seen want of them.
type countingMember struct {
	got, want int
	wg        *sync.WaitGroup
}

func (m *countingMember) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*Deliver); ok {
		if m.got++; m.got == m.want {
			m.wg.Done()
		}
	}
}

// BenchmarkRoomBroadcast measures a broadcast's fan-out inside the actor
// system: the room encodes the frame once and hands it to every member.
// Socket writes are not included (see transport/ws BenchmarkOutboxWritePath).
//
//	go test -run '^$' -bench RoomBroadcast ./actors/
func BenchmarkRoomBroadcast(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
			defer as.Shutdown()
			rooms := as.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRoomsSupervisor() }))
			var wg sync.WaitGroup
			wg.Add(n)
			key := roomKey{"bench", "room"}
			for i := range n {
				pid := as.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &countingMember{want: b.N, wg: &wg} }))
				reply := make(chan int, 1)
				as.Root.Send(rooms, &joinRoom{key: key, m: member{connID: fmt.Sprint(i), pid: pid, joinedAt: time.Now()}, reply: reply})
				<-reply
			}
			msg := json.RawMessage(`{"text":"hello everyone"}`)
			b.ResetTimer()
			for i := range b.N {
				reply := make(chan BroadcastResult, 1)
				as.Root.Send(rooms, &broadcastRoom{key: key, from: "sender", identity: "bench", message: msg, reply: reply})
				if r := <-reply; r.DeliveredTo != n {
					b.Fatalf("broadcast %d delivered to %d", i, r.DeliveredTo)
				}
			}
			wg.Wait() // every member got every broadcast
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "broadcasts/s")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
