package persistence

import "errors"

// ErrSeqGap rejects a Write whose events do not continue the execution's log
// exactly (each seq must be the previous one + 1). Nothing of that Write is
// committed; it usually means two writers raced on one execution, which the
// one-actor-per-execution rule should make impossible.
var ErrSeqGap = errors.New("persistence: event seq does not continue the log")

// ErrExists rejects CreateExecution of an id that is already stored. Ids are
// generated, so this is a bug, not a conflict a client can cause (a client's
// retry is caught by the idempotency key instead).
var ErrExists = errors.New("persistence: execution already exists")

// ErrLimit rejects a write that would take something past a quota (the
// pending signals of an execution). Nothing is written.
var ErrLimit = errors.New("persistence: limit reached")

// ErrInvalid rejects malformed input: a missing id or workspace, an unknown
// status, an event of another execution, a bad cursor. Nothing is written.
var ErrInvalid = errors.New("persistence: invalid input")

// ErrFenced refuses an append because another writer appended to the
// execution since this store last did: in cluster mode another node has
// taken the execution over (persistence/jsstore, which fences its
// appends). Nothing of the refused write is stored; the writer should stop
// running the execution, quietly: it is not a failure of the execution.
var ErrFenced = errors.New("persistence: another writer appended to this execution")
