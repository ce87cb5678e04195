// Package persistence is weft's durable state: executions, their event logs
// and step checkpoints, in one bbolt file. The store is the truth: an event
// is published on the bus only after Commit returns (persist, then publish),
// so a subscriber never sees an event the store lacks.
//
// # Layout
//
// Values are JSON (Execution, events.Event, Step). Keys:
//
//	executions          id -> Execution (LastSeq is not stored; reads derive it)
//	events/<id>         seq, big-endian uint64 -> events.Event as stored (events.Stored),
//	                    or a packed record of consecutive llm_delta events keyed by its last seq (pack.go)
//	steps/<id>          step id -> Step
//	signals/<id>        signal seq -> Signal, until a step consumes it
//	idempotency         lp(workspace) lp(workflow) lp(key) -> id
//	by_workspace        lp(workspace) desc(created) id -> ""
//	by_status           lp(workspace) lp(status) desc(created) id -> ""
//	unfinished          asc(created) id -> ""   (status not terminal)
//	ended               lp(workflow) asc(ended) id -> ""   (retention; ended_meta says it is complete)
//	stats               lp(workspace) lp(workflow) tier start -> rollup   (workflow stats, stats.go:
//	                    per minute and per hour, ends by status and a duration sketch; kept 8 days)
//	schedules           lp(workspace) id -> Schedule
//	meta                the store's own keys (the disk probe)
//
// lp(s) is s with a uvarint length prefix, so composite keys never collide.
// asc(t) is 12 bytes that sort in time order (Unix seconds with the sign bit
// flipped, then nanoseconds); desc(t) is its bitwise complement, so the
// listing indexes are walked forwards to get newest first. events/<id> and
// steps/<id> are nested buckets under events and steps.
//
// An append touches only events/<id> (and steps/<id>): the record is
// rewritten only when the status changes, and LastSeq is the last key of the
// log. That keeps the common write, one step's events and checkpoint, small.
//
// # Group commit
//
// Every write goes through one writer goroutine, owned by the Store and
// stopped by Close. It takes the next queued write, then whatever else is
// already queued (up to Options.MaxBatch), applies them all in one bbolt
// transaction and so pays one fsync for the lot, then completes each write
// in queue order. A bbolt commit with fsync takes about a millisecond, so
// one transaction per write would cap the store at 1-2k writes/s; batching
// lets throughput grow with the number of concurrent writers while a lone
// writer still waits for just one fsync (there is no batching timer).
//
// Each write is validated against the transaction as it stands (including
// the writes before it in the batch) before it changes anything, so a
// rejected write (unknown execution, seq gap, taken idempotency key) leaves
// nothing behind and the rest of its batch commits. If a bbolt-level error
// aborts the transaction instead, the writer re-runs the batch one write per
// transaction, so only the write at fault fails; an error of the disk
// itself (full, failing) fails the whole batch at once, and the store
// reports itself unwritable (Writable) until a commit or its probe, every
// second, succeeds.
//
// # Concurrency
//
//   - All methods are safe for concurrent use.
//   - Writes (CreateExecution, Commit, CommitAsync) are serialized by the
//     writer goroutine; when they return (or call done), they are committed
//     and, unless Options.NoSync, fsynced. Writes queued by one goroutine
//     commit in the order it queued them.
//   - Reads (Execution, Events, Steps, List, Unfinished) run in their own
//     read-only transactions, concurrently with each other and the writer,
//     and see only committed data. Each read is a consistent snapshot.
//   - The caller keeps per-execution order: seqs must continue the log, so
//     only one actor should write a given execution at a time.
package persistence
