// Package client is the Go SDK for weft's WebSocket protocol
// (PROTOCOL.md): one multiplexed connection carries many executions,
// rooms and requests, and survives drops.
//
// Dial opens the connection with any of the four auth methods. Start runs a
// workflow and returns an *Execution whose events are read with a Go 1.23
// iterator (for ev := range exec.Events()), a channel (exec.Chan()) or
// exec.Next; exec.Result waits for the outcome.
//
// Reconnect: when the connection drops, the client dials again with
// exponential backoff and jitter (min(Base*2^n, Max), Base 1 s, Max 30 s,
// bounded by MaxAttempts), authenticates again, re-joins its rooms and
// resubscribes every live execution with execution.subscribe after_seq =
// the last seq it received. Events are deduplicated by seq, so each
// consumer sees every event exactly once and in order across drops.
// Requests made while disconnected wait in a bounded queue
// (Options.QueueWhileDisconnected) or fail fast with UNAVAILABLE.
// With queueing on, read-only requests in flight at the drop are sent
// again (with fail fast they fail with UNAVAILABLE); a start in
// flight is sent again with the same idempotency key (so it starts one
// execution); other writes in flight fail with a retryable UNAVAILABLE,
// since the client cannot know whether the server applied them.
//
// Every failure reported by the server is a *Error carrying the protocol
// code and its retryable flag (errors.As; ErrorCode and IsRetryable are
// shortcuts). A workflow that ends failed or cancelled makes Result return
// an *ExecutionError. Two codes say "too much": RATE_LIMITED (retryable;
// frames over the connection's rate: slow down and try again) and
// LIMIT_EXCEEDED (not retryable; a quota: requests in flight on the
// connection, streams included, rooms per connection, signals stored and
// not yet consumed per execution, unfinished executions per workspace).
// The client never retries a LIMIT_EXCEEDED; end some streams
// (Execution.Close), leave rooms or let executions finish first. A start
// refused with it returns the error from Start; an execution's stream
// refused with it on a resubscribe ends with it (Execution.Err).
//
// Call sends any service request and waits for its one answer; Stream
// sends one whose answer is several frames (execution.replay) and hands
// them to a callback in order; neither is sent again after a drop unless
// it is read-only (Call) and queueing is on. Dial takes a server address
// in any form ParseAddress accepts.
//
// Delete removes an ended execution (execution.delete); one still running
// is CONFLICT, and afterwards it is EXECUTION_NOT_FOUND.
//
// Goroutines: per connection one reader and one writer, plus one
// dispatcher for callbacks (OnMessage, presence); Close stops them all.
package client
