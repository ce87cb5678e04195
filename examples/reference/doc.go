// Package reference registers the reference workflows of PROTOCOL.md
// section 9, which `weft serve` runs and which clients, tests and
// benchmarks rely on: echo, search-candidates, countdown, approval, flaky,
// fanout, nap, stream and chat-bot.
//
// They are also the first examples of the workflows API: read them top to
// bottom to see a task, an LLM call with streamed tokens, and a tool.
//
// Their parameters are bounded, and a start outside the bounds (or with a
// field the workflow does not have, or of the wrong type) is refused with
// INVALID_REQUEST naming the field, before anything is stored:
//
//	countdown          steps 0..10000 (required), delay_ms 0..60000
//	fanout             n 0..1000 (required)
//	nap                seconds 0..31536000 (a year; required)
//	stream             chunks 1..100000 (required), chunk_bytes 0..4096 (0: 16)
//	approval           delay_ms 0..3600000, timeout_ms 0..604800000 (0: for ever)
//	flaky              fail_times 0..100 (required); above 10 the execution fails at once
//	search-candidates  user_query 1..2000 characters (required),
//	                   organization_id up to 200 characters, filters any JSON object
//	echo               any JSON object
//
// The workflows check the same bounds again when they run.
package reference
