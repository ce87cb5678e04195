// Package jsstore is weft's execution store on NATS JetStream, for cluster
// mode (PROTOCOL.md section 11): the same methods as the bbolt store
// (persistence.Store), checked by the same suite (persistence/storetest),
// with the state held and replicated by a JetStream cluster instead of one
// file, so that any node can read any execution and another node can take
// an execution over when its node dies.
//
// # Layout
//
// With the default prefix WEFT (Options.Prefix):
//
//	stream WEFT_EVENTS    weft.ev.<workspace>.<execution>   one message per write (frame.go)
//	stream WEFT_SIGNALS   weft.sig.<workspace>.<execution>  one message per pending signal
//	bucket WEFT_EXECUTIONS   <execution>                    the record (recordValue)
//	bucket WEFT_STEPS        <execution>.<step>             a checkpoint (stepValue)
//	bucket WEFT_IDEMPOTENCY  <workspace>.<workflow>.<key>   the execution id
//	bucket WEFT_LIST         <workspace>.<execution>        listing entry (workflow, status, created)
//	bucket WEFT_UNFINISHED   <execution>                    while not ended (waiting, wake time)
//
// Names and ids become subject tokens as they are when they are made of
// letters, digits, '_' and '-' (weft's generated ids), and as "=" and their
// URL-safe base64 otherwise (token). Buckets are ordinary KV buckets
// (history 1), created by weft with direct gets off: every read goes to
// the stream leader, which has every acknowledged write, so a node reads
// its own writes and those of the node it takes over from. Streams and
// buckets have Options.Replicas replicas (weft serve --nats-replicas).
//
// A message of the events stream carries one write: its events, each as
// the bytes events.Encode wrote (subscribers get them byte for byte), and
// what else it commits (checkpoints, a status, consumed signals). The
// header Weft-Seq is the seq of the log's last event once the message is
// in, so seqs grow along a subject and the message holding seq N is found
// by a search over the subject's messages, without reading the stream or
// the whole log (read.go). A run of token deltas merged into one write is
// one message.
//
// # Fencing
//
// A writer remembers the stream sequence of the last message of each
// execution it appends to, and publishes the next write with
// expected-last-subject-sequence set to it. If anyone else appended since
// (another node took the execution over), JetStream refuses the publish
// and the write fails with ErrFenced: nothing of it is stored. Writes of
// one execution are applied one at a time in the order they were queued
// (CommitAsync keeps the bbolt store's order); writes of different
// executions run in parallel. Every append carries a message id, so one
// retried through a timeout or a leader election is stored once.
//
// # What is atomic, and what is recovered
//
// JetStream stores a message whole or not at all, and a write is one
// message, so a write's events and its commit part are atomic: never half
// a write in the log. (nats-server 2.12+ also has atomic batch publish,
// across subjects of one stream; weft does not use it: a write fits in one
// message, a batch cannot span the streams behind the buckets, and on an
// R1 file stream each batch is staged in a store of its own, measured here
// about 100 times slower than a publish.) A write larger than a NATS
// message (1 MiB by default: only a very long merged run of deltas) goes
// out as several messages, each fenced on the one before, the commit part
// in the last: a crash between them leaves a prefix of its events.
//
// The buckets are then brought in line with the message: checkpoints,
// record status, list and unfinished entries, consumed signals. The log is
// the truth and these are projections of it. If the writer dies between
// the message and its projections, the next writer of the execution (the
// node that takes it over) re-applies the log's last message before its
// first append (logState): the only write that can be unapplied is the
// last, since a writer applies each write before it appends the next.
// Applying is idempotent and ordered: the record and each checkpoint carry
// the stream sequence of the write that set them and are replaced, by
// compare-and-set, only with a newer one, so a fenced writer's late
// projection cannot undo its successor's.
//
// A create writes the record (create-if-absent), the idempotency key
// (create-if-absent: one winner cluster-wide; a loser purges its record
// and returns the winner), the list and unfinished entries, then the first
// event, fenced on an empty subject. The record keeps the first event's
// bytes until its next rewrite, so a reader that finds a record without
// its first event (the creator died) publishes it, under the same message
// id.
//
// A rerun's create (CreateExecutionWithSteps) carries the reused
// checkpoints as the commit part of the first message, and the record
// keeps them with the first event: whoever completes the create, or
// takes the execution over, applies them. Import writes the record marked
// importing (read as absent), then the log, checkpoints, signals and
// entries, then unmarks it; importing the same record again finishes an
// import cut short (portable.go).
//
// What lags: readers on other nodes may see a write's events a moment
// before its checkpoints and status (between the message and its
// projections); List checks each item against its record.
//
// A listing (List, Unfinished, WaitingIndex, Schedules, the schedule
// limit's count, WorkflowStats' hours, retention's walks, ListAudit) sees
// every write acknowledged before it began, by any node. It reads through
// an ephemeral R1 consumer, which JetStream may place on a replica behind
// the leader, so it first asks the leader for the last message its filter
// matches and reads until the consumer has delivered it (or a later one),
// waiting for a lagging replica (listread.go; audit.go does the same with
// the subject's last sequence). Not the stream's last message: that one
// may be gone (a KV purge), and then nothing tells a replica that lags
// from one that has delivered everything. Writes that end during the listing may or may not be in
// it. One gap: a stream purge is no message, so a listing can still see
// an entry that a purge (DeleteExecution) removed from the leader but not
// yet from the consumer's replica; List and Unfinished check each entry
// against its record, which is read from the leader.
//
// # Listing
//
// KV buckets have no key order and no paging: List reads every list entry
// of the workspace (one ordered consumer, values streamed), filters and
// sorts them in memory and loads the records of one page. That is cheap
// to about ten thousand executions per workspace and linear past it.
// Unfinished reads the unfinished bucket, so its cost follows the live
// executions. CLUSTER.md's way past that is an index built for listing: a
// time-ordered index stream, or a read model each node projects from the
// events stream into its local bbolt.
//
// # Schedules, audit, stats and retention
//
// The rest of what the actors keep (rest.go):
//
//	bucket WEFT_SCHEDULES        <workspace>.<schedule>                      the schedule
//	stream WEFT_AUDIT            weft.audit.<workspace>                      one message per audit record
//	bucket WEFT_STATS            <workspace>.<workflow>.<m|h>.<unix start>   a rollup, MaxAge 8 days
//	stream WEFT_ENDED            weft.ended.<workflow>.<workspace>.<exec>    one message per ended execution
//	bucket WEFT_ENDED_WORKFLOWS  <workflow>                                  the workflows WEFT_ENDED has
//
// Schedules change by compare-and-set on the revision: UpdateSchedule
// reads, calls fn and writes at that revision, and on a conflict reads and
// calls fn again (fn must be pure). A schedule's due time fires once
// cluster-wide: the firing's execution is created under the idempotency
// key schedule:<id>:<unix>, and next_run_at moves only if fn finds it
// still at the due time. The per-workspace limit holds cluster-wide: a
// create ranking past it by revision withdraws itself (schedules.go).
//
// The audit trail is in the order records were stored; a cursor is a
// stream sequence, a listing reads from it through a consumer filtered on
// the workspace, and time windows lean on records being stamped when they
// are appended (audit.go). DeleteAuditBefore purges the stream up to the
// first record not older than the cutoff.
//
// An execution's end is recorded by recordEnd, which the write path calls
// where a terminal status is applied: it stores the ended entry only on an
// empty subject, and the call that stored it counts the end in the minute
// and hour rollups (persistence.StatsRollup, by compare-and-set), so an
// end is counted at most once however often it is recorded (stats.go).
// DeleteExpired walks each workflow's ended entries oldest first and stops
// at the first too young (retention.go).
//
// # Durability
//
// A write is acknowledged once JetStream has stored it: with R3, once a
// quorum (2 of 3 servers) holds it, like Kafka's acks=all. By default
// nats-server does not fsync each message (it syncs every two minutes),
// so durability comes from replication: an acknowledged write survives
// the loss of any one server, but not a power loss of the whole cluster
// within the sync interval. `sync_interval: always` in the server's
// config fsyncs every message before the acknowledgement (about 4.2k
// msgs/s against 104k on this kind of machine, see DEPENDENCIES.md). R1
// with the default sync is for trying cluster mode on one machine, not
// for keeping data.
//
// # Concurrency
//
// All methods are safe for concurrent use, by any number of Stores on any
// number of nodes. Each Store runs one goroutine per execution with
// queued writes; Close waits for them. The NATS connection is the
// caller's: Close does not close it.
package jsstore
