package openai

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunkLine is one SSE event carrying a chunk.
func chunkLine(choice string) string {
	return `data: {"model":"m1","choices":[` + choice + `]}` + "\n\n"
}

func TestDecodeStream(t *testing.T) {
	usage := `data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}` + "\n\n"
	tests := []struct {
		name      string
		stream    string
		deltas    string // joined by |
		text      string
		calls     string // name(args) joined by ;
		finish    string
		usage     [2]int
		wantErr   error
		errSubstr string
	}{
		{
			name: "text, usage, done",
			stream: chunkLine(`{"index":0,"delta":{"role":"assistant","content":""}}`) +
				chunkLine(`{"index":0,"delta":{"content":"Hel"}}`) +
				chunkLine(`{"index":0,"delta":{"content":"lo"}}`) +
				chunkLine(`{"index":0,"delta":{},"finish_reason":"stop"}`) + usage + "data: [DONE]\n\n",
			deltas: "Hel|lo", text: "Hello", finish: "stop", usage: [2]int{7, 3},
		},
		{
			name: "finish without [DONE] is complete",
			stream: chunkLine(`{"index":0,"delta":{"content":"ok"}}`) +
				chunkLine(`{"index":0,"delta":{},"finish_reason":"length"}`),
			deltas: "ok", text: "ok", finish: "length",
		},
		{
			name: "two tool calls, arguments in fragments, interleaved",
			stream: chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"add","arguments":""}}]}}`) +
				chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"mul","arguments":"{\"x\""}}]}}`) +
				chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}`) +
				chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":":2}"}}]}}`) +
				chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}`) +
				chunkLine(`{"index":0,"delta":{},"finish_reason":"tool_calls"}`) + "data: [DONE]\n\n",
			calls: `add({"a":1});mul({"x":2})`, finish: "tool_calls",
		},
		{
			name: "tool calls without index",
			stream: chunkLine(`{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}},{"id":"b","function":{"name":"g","arguments":"{\"k\":"}}]}}`) +
				chunkLine(`{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}`) + "data: [DONE]\n\n",
			calls: `f({});g({"k":1})`,
		},
		{
			name:   "arguments that are not JSON are kept as a string",
			stream: chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{oops"}}]}}`) + "data: [DONE]\n\n",
			calls:  `f("{oops")`,
		},
		{
			name:   "other choices ignored",
			stream: chunkLine(`{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}`) + "data: [DONE]\n\n",
			deltas: "yes", text: "yes",
		},
		{
			name:   "keep-alive comments and empty events",
			stream: ": ping\n\ndata:\n\n" + chunkLine(`{"index":0,"delta":{"content":"x"}}`) + "data: [DONE]\n\n",
			deltas: "x", text: "x",
		},
		{
			name:    "malformed JSON",
			stream:  chunkLine(`{"index":0,"delta":{"content":"x"}}`) + "data: {\"choices\": [\n\n",
			deltas:  "x",
			wantErr: errBadResponse, errSubstr: "not JSON",
		},
		{
			name:    "dropped half-way",
			stream:  chunkLine(`{"index":0,"delta":{"content":"x"}}`),
			deltas:  "x",
			wantErr: errIncomplete,
		},
		{
			name:    "empty body",
			stream:  "",
			wantErr: errIncomplete,
		},
		{
			name:      "tool call index out of order",
			stream:    chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":5,"id":"a","function":{"name":"f"}}]}}`),
			wantErr:   errBadResponse,
			errSubstr: "index 5",
		},
		{
			name:      "error inside the stream",
			stream:    `data: {"error":{"message":"model overloaded","type":"server_error"}}` + "\n\n",
			errSubstr: "model overloaded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var deltas []string
			resp, err := decodeStream(strings.NewReader(tt.stream), func(s string) { deltas = append(deltas, s) })
			if got := strings.Join(deltas, "|"); got != tt.deltas {
				t.Errorf("deltas = %q, want %q", got, tt.deltas)
			}
			if tt.wantErr != nil || tt.errSubstr != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var calls []string
			for _, c := range resp.ToolCalls {
				calls = append(calls, c.Name+"("+string(c.Arguments)+")")
				if c.ID == "" {
					t.Errorf("call %s has no id", c.Name)
				}
			}
			if got := strings.Join(calls, ";"); got != tt.calls {
				t.Errorf("calls = %s, want %s", got, tt.calls)
			}
			if resp.Text != tt.text || resp.FinishReason != tt.finish {
				t.Errorf("text, finish = %q, %q; want %q, %q", resp.Text, resp.FinishReason, tt.text, tt.finish)
			}
			if u := resp.Usage; [2]int{u.PromptTokens, u.CompletionTokens} != tt.usage {
				t.Errorf("usage = %+v, want %v", u, tt.usage)
			}
		})
	}
}

// FuzzDecodeStream feeds arbitrary bytes to the stream decoder, which reads
// what a remote server sends: it must not panic, must end (the input is
// finite), and what it returns must be fit to record: the text is the
// deltas it handed out, and every tool call's arguments are valid JSON.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte(chunkLine(`{"index":0,"delta":{"content":"hi"}}`) + "data: [DONE]\n\n"))
	f.Add([]byte(chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"a\":"}}]}}`) +
		chunkLine(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}`)))
	f.Add([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\r\n\r\ndata: [DONE]\r\n"))
	f.Add([]byte(": c\n\nevent: x\ndata: {\ndata: }\n\n"))
	f.Add([]byte("data: {\"error\":{\"message\":\"x\",\"code\":429}}\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var deltas strings.Builder
		resp, err := decodeStream(strings.NewReader(string(stream)), func(s string) {
			if s == "" {
				t.Fatal("empty delta handed out")
			}
			deltas.WriteString(s)
		})
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatalf("io.EOF leaked: %v", err)
			}
			return
		}
		if resp.Text != deltas.String() {
			t.Fatalf("text %q != deltas %q", resp.Text, deltas.String())
		}
		for _, c := range resp.ToolCalls {
			if !json.Valid(c.Arguments) {
				t.Fatalf("tool call %q has invalid arguments %q", c.Name, c.Arguments)
			}
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response cannot be recorded: %v", err)
		}
	})
}
