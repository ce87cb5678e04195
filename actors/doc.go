// Package actors holds weft's live state, each piece owned by one
// proto.actor actor, and the Service facade that both transports call.
//
//   - executionActor (one per live execution) owns its status, next seq,
//     recorded steps and the cancel func of the goroutine running the
//     workflow function. It assigns seqs, hands events to the store's
//     group-commit writer and publishes them on the bus only once they are
//     durable.
//   - executionsSupervisor spawns and supervises execution actors and knows
//     which are live.
//   - connections are spawned under a connections supervisor by the
//     WebSocket adapter (transport/ws), which owns the socket code.
//
// Nothing outside an actor touches its state: other goroutines talk to it
// with messages (declared beside it). Receive never does socket I/O and never
// waits for an fsync; the store's writer goroutine calls back with a message.
//
// Service is safe for concurrent use. Its methods check scopes and the
// caller's workspace once, for every transport.
package actors
