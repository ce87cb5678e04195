// Package eventstest provides an execution log in memory, the store that
// events.Follow reads, for tests of the event path (events and
// events/natsbus follow it the same way).
package eventstest
