// Package events is the vocabulary of what happens to an execution: the
// event types and details of PROTOCOL.md section 5, and the Bus that carries
// them from execution actors to subscribers.
//
// The store is the truth; the bus is a doorbell. Events carry a per-execution
// seq so a subscriber can put them back in order, drop duplicates and read
// gaps from the store, whatever the bus does (Watermill's GoChannel does not
// keep order). Sequencer holds that logic.
package events
