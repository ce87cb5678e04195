// Package reference registers the reference workflows of PROTOCOL.md
// section 9, which `weft serve` runs and which clients, tests and
// benchmarks rely on: echo, search-candidates, countdown, approval, flaky,
// fanout and nap.
//
// They are also the first examples of the workflows API: read them top to
// bottom to see a task, an LLM call with streamed tokens, and a tool.
package reference
