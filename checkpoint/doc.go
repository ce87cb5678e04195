// Package checkpoint holds what a durable workflow leaves behind between
// its steps: the checkpoint of each step (Step) and the signals waiting
// for it (Signal). The developer API (package workflows) reads and writes
// these values through its runtime; the stores (persistence's bbolt file,
// persistence/jsstore on NATS JetStream) keep them. The types live here,
// apart from either store, so that a workflow author's packages import no
// store.
package checkpoint
