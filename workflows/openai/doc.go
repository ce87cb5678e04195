// Package openai is a workflows.Provider for OpenAI-compatible chat
// completions: the OpenAI API itself and the servers that speak it, such
// as Ollama (http://127.0.0.1:11434/v1), vLLM and llama.cpp's
// llama-server.
//
// It always streams (stream: true, with stream_options.include_usage so the
// last chunk carries token usage): each content delta is handed to the LLM
// step as it arrives, which emits it as an llm_delta event; tool calls are
// assembled from their index-keyed argument fragments.
//
// # Why no SDK
//
// The whole contract is one POST and one server-sent-events stream of JSON
// chunks. net/http and a small SSE reader (sse.go) cover it with no
// dependency, and keep control of what matters here: every failure becomes
// a *workflows.ProviderError with a code and the right retryability, a
// stream that stalls is cut after Config.IdleTimeout, and a stream that
// ends half-way is an error, never a hang or a truncated answer taken for a
// whole one.
//
// # Failures
//
//   - HTTP 429: RATE_LIMITED, retried, carrying the Retry-After.
//   - HTTP 5xx, network errors, a stream that ends before [DONE] and
//     before a finish_reason, an error event inside the stream:
//     PROVIDER_ERROR, retried.
//   - No byte for IdleTimeout (waiting for the answer or between chunks):
//     PROVIDER_TIMEOUT, retried.
//   - Other HTTP 4xx (bad key, unknown model, bad request):
//     PROVIDER_ERROR, not retried.
//   - A stream that is not SSE of chunk JSON: PROVIDER_BAD_RESPONSE, not
//     retried.
//   - The context cancelled: its error, so the step is not recorded as
//     failed.
//
// # Concurrency
//
// A Provider is safe for concurrent use; Stream calls onDelta from the
// calling goroutine and starts none of its own (the idle timeout is a
// time.AfterFunc that cancels the request).
package openai
