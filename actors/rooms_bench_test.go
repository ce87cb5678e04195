package actors

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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

func benchActors(b *testing.B) *actor.ActorSystem {
	as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	b.Cleanup(as.Shutdown)
	return as
}

// BenchmarkRoomBroadcast measures a broadcast's fan-out inside the actor
// system: the room encodes the frame once and hands it to every member,
// either as a Deliver message to the member's actor (via=actor) or
// straight to its push (via=push, what WebSocket connections offer; the
// push here takes the frame's prepared form, as transport/ws does, and
// counts). Socket writes are not included (see transport/ws
// BenchmarkOutboxWritePath and BenchmarkBroadcastFanOut).
//
//	go test -run '^$' -bench RoomBroadcast ./actors/
func BenchmarkRoomBroadcast(b *testing.B) {
	for _, via := range []string{"actor", "push"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("via=%s/members=%d", via, n), func(b *testing.B) {
				as := benchActors(b)
				rooms := as.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRoomsSupervisor(0, nil) }))
				var wg sync.WaitGroup
				var pushed, prepared atomic.Int64
				wg.Add(n)
				key := roomKey{"bench", "room"}
				for i := range n {
					m := member{connID: fmt.Sprint(i), joinedAt: time.Now()}
					if via == "actor" {
						m.pid = as.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &countingMember{want: b.N, wg: &wg} }))
					} else {
						got := 0
						m.push = func(f *Frame) {
							f.Prepared(func(data []byte) any { prepared.Add(1); return len(data) })
							pushed.Add(1)
							if got++; got == b.N {
								wg.Done()
							}
						}
					}
					reply := make(chan int, 1)
					as.Root.Send(rooms, &joinRoom{key: key, m: m, reply: reply})
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
				if via == "push" && prepared.Load() != int64(b.N) {
					b.Fatalf("%d frames prepared for %d broadcasts", prepared.Load(), b.N)
				}
			})
		}
	}
}

// BenchmarkRoomJoinPresence joins members to one room, every one asking
// for presence (room.join's default), and counts the presence pushes: with
// the default limit they stop at DefaultRoomPresenceLimit members; without
// a limit they grow as N²/2. Socket writes are not included.
//
//	go test -run '^$' -bench RoomJoinPresence ./actors/
func BenchmarkRoomJoinPresence(b *testing.B) {
	for _, limit := range []int{0, -1} {
		name := "limit=default"
		if limit < 0 {
			name = "limit=none"
		}
		b.Run(name+"/members=10000", func(b *testing.B) {
			const n = 10000
			var pushed atomic.Int64
			push := func(*Frame) { pushed.Add(1) }
			for range b.N {
				as := benchActors(b)
				rooms := as.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRoomsSupervisor(limit, nil) }))
				key := roomKey{"bench", "room"}
				reply := make(chan int, 1)
				for i := range n {
					as.Root.Send(rooms, &joinRoom{key: key, m: member{connID: fmt.Sprint(i), push: push, presence: true, joinedAt: time.Now()}, reply: reply})
					<-reply
				}
			}
			b.ReportMetric(float64(pushed.Load())/float64(b.N), "pushes/op")
		})
	}
}
