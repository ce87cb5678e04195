// Package openaitest is a fake OpenAI-compatible chat-completions server
// for tests, on a real 127.0.0.1 port (httptest): each request is answered
// by a handler that streams chunks exactly as the test says, including the
// failures a real server has (429, 5xx, malformed chunks, a stream cut
// half-way, a stall), and every request is kept so that tests can count
// and inspect them.
//
// Handlers run on the server's goroutines; one that waits for the test
// must also watch Stream.Context(), which ends when the client goes away,
// or Close will wait for it.
package openaitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Handler answers the n-th request (from 0).
type Handler func(n int, req Request, s *Stream)

// Server is the fake.
type Server struct {
	*httptest.Server
	handle   Handler
	mu       sync.Mutex
	requests []Request
}

// NewServer starts a fake answering with handle. Close it when done.
func NewServer(handle Handler) *Server {
	s := &Server{handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the URL to configure the provider with (".../v1").
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Count is the number of chat requests received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Requests returns the chat requests received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad JSON"}}`, http.StatusBadRequest)
		return
	}
	req.Header = r.Header.Clone()
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	s.handle(n, req, &Stream{w: w, rc: http.NewResponseController(w), ctx: r.Context()})
}

// Request is a chat request as the fake received it.
type Request struct {
	Model         string    `json:"model"`
	Messages      []Message `json:"messages"`
	Tools         []Tool    `json:"tools"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Header http.Header `json:"-"`
}

// Message is a chat message as sent on the wire.
type Message struct {
	Role      string  `json:"role"`
	Content   *string `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
}

// Tool is an offered tool as sent on the wire.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// LastUser returns the content of the request's last user message.
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if m := r.Messages[i]; m.Role == "user" && m.Content != nil {
			return *m.Content
		}
	}
	return ""
}

// Stream writes one answer. Every write is flushed at once, so the client
// sees each chunk when the handler sends it.
type Stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	ctx     context.Context
	started bool
}

// Context ends when the client has gone away.
func (s *Stream) Context() context.Context { return s.ctx }

// Fail answers with an HTTP error and an OpenAI error body; retryAfter is
// sent as the Retry-After header unless empty.
func (s *Stream) Fail(status int, retryAfter, message string) {
	if retryAfter != "" {
		s.w.Header().Set("Retry-After", retryAfter)
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": "test_error"}})
	s.w.Header().Set("Content-Type", "application/json")
	s.w.WriteHeader(status)
	_, _ = s.w.Write(body)
}

// Raw writes text as is (it should end with "\n\n" to end an event).
func (s *Stream) Raw(text string) {
	if !s.started {
		s.w.Header().Set("Content-Type", "text/event-stream")
		s.w.Header().Set("Cache-Control", "no-cache")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	_, _ = s.w.Write([]byte(text))
	_ = s.rc.Flush()
}

// Chunk writes one chat.completion.chunk event made of choice (the
// fields of choices[0]: delta, finish_reason) and extra top-level fields.
func (s *Stream) Chunk(choice map[string]any, extra map[string]any) {
	c := map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "fake-1"}
	if choice != nil {
		if _, ok := choice["index"]; !ok {
			choice["index"] = 0
		}
		c["choices"] = []any{choice}
	} else {
		c["choices"] = []any{}
	}
	for k, v := range extra {
		c[k] = v
	}
	raw, _ := json.Marshal(c)
	s.Raw("data: " + string(raw) + "\n\n")
}

// Text sends a content delta.
func (s *Stream) Text(text string) {
	s.Chunk(map[string]any{"delta": map[string]any{"content": text}, "finish_reason": nil}, nil)
}

// ToolCall sends a fragment of the tool call at index: id and name are
// sent when not empty (normally with the first fragment only).
func (s *Stream) ToolCall(index int, id, name, args string) {
	tc := map[string]any{"index": index, "function": map[string]any{"arguments": args}}
	if id != "" {
		tc["id"] = id
		tc["type"] = "function"
	}
	if name != "" {
		tc["function"].(map[string]any)["name"] = name
	}
	s.Chunk(map[string]any{"delta": map[string]any{"tool_calls": []any{tc}}, "finish_reason": nil}, nil)
}

// Finish sends the finish_reason.
func (s *Stream) Finish(reason string) {
	s.Chunk(map[string]any{"delta": map[string]any{}, "finish_reason": reason}, nil)
}

// Usage sends the usage chunk (choices empty), as with include_usage.
func (s *Stream) Usage(prompt, completion int) {
	s.Chunk(nil, map[string]any{"usage": map[string]any{
		"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
	}})
}

// Done ends the stream with [DONE].
func (s *Stream) Done() { s.Raw("data: [DONE]\n\n") }

// Abort cuts the connection without ending the response.
func (s *Stream) Abort() { panic(http.ErrAbortHandler) }

// Reply streams text word by word, then finish "stop", usage (one token a
// word) and [DONE].
func Reply(s *Stream, text string) {
	words := strings.SplitAfter(text, " ")
	for _, w := range words {
		s.Text(w)
	}
	s.Finish("stop")
	s.Usage(10, len(words))
	s.Done()
}

// Call is a tool call to stream.
type Call struct{ ID, Name, Arguments string }

// CallTools streams the calls the way OpenAI does: each call's id and name
// first, then its arguments in fragments of a few bytes; then finish
// "tool_calls", usage and [DONE].
func CallTools(s *Stream, calls ...Call) {
	for i, c := range calls {
		s.ToolCall(i, c.ID, c.Name, "")
		for args := c.Arguments; args != ""; {
			n := min(len(args), 7)
			s.ToolCall(i, "", "", args[:n])
			args = args[n:]
		}
	}
	s.Finish("tool_calls")
	s.Usage(10, 5*len(calls))
	s.Done()
}

// Script answers request n with turns[n]; a request past the end gets a
// 500, so a test that calls too often fails loudly.
func Script(turns ...func(req Request, s *Stream)) Handler {
	return func(n int, req Request, s *Stream) {
		if n >= len(turns) {
			s.Fail(http.StatusInternalServerError, "", fmt.Sprintf("openaitest: no turn %d scripted", n))
			return
		}
		turns[n](req, s)
	}
}
