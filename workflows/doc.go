// Package workflows is what workflow authors import: a Registry of named
// workflows written as plain Go functions, the Context they run with, and the
// durable steps (Task, LLM, Tool) whose results are recorded.
//
// # Durable steps by memoization
//
// Each step call gets a deterministic step id from the workflow's own call
// order ("1", "2", ...). The first time, the step runs, its events are
// emitted and its result is checkpointed together with its end event in one
// durable commit. When the execution runs again (after a crash or restart)
// the function starts from the top and every recorded step returns its
// recorded result at once, running nothing and emitting nothing.
//
// # Rules for workflow code (determinism)
//
// Because a workflow may run again from the top, the code between steps must
// make the same step calls in the same order given the same input:
//
//   - Do side effects (I/O, clocks, randomness) inside steps, not around them.
//   - Branch only on the input and on step results.
//   - Never start plain goroutines that call steps: use Go, which numbers
//     a branch's steps by where it was started.
//
// A recorded step id whose kind or name differs from what the code now asks
// for fails the execution with a non-determinism error instead of mixing
// results.
//
// # Waiting
//
// Sleep, WaitSignal and retry backoffs record their wake time before they
// wait. A long wait in the workflow's own goroutine (with no Go branch
// running) unwinds that goroutine with runtime.Goexit, running its deferred
// calls: the execution keeps only a timer, and runs the workflow again from
// the top when the wait ends. Deferred calls in workflow code must
// therefore not have side effects either.
//
// # Concurrency
//
// A workflow function runs in one goroutine owned by its execution. Step
// functions receive a context.Context that is cancelled when the execution is
// cancelled or the server shuts down; they should return promptly then.
package workflows
