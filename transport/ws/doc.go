// Package ws is weft's WebSocket adapter (PROTOCOL.md sections 2, 3 and 6):
// it authenticates the upgrade, spawns one connection actor per socket under
// the connections supervisor, decodes client frames, calls the actors.Service
// and encodes its answers and events.
//
// # Concurrency
//
// Each socket has exactly three kinds of goroutine, all owned by its
// connection actor and stopped by the connection's context:
//
//   - the read pump, the only reader; it hands each frame to the actor;
//   - the write pump, the only writer; it drains a bounded outbox, so a slow
//     client is closed with 1013 instead of slowing anyone else;
//   - one goroutine per in-flight request, which calls the Service and sends
//     its answers and events back to the actor as messages.
//
// Only the actor touches the connection's state (identity, in-flight
// requests, rate limiter).
package ws
