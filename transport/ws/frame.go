package ws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// Kinds of client frame.
const (
	kindRequest   = "request"
	kindShorthand = "shorthand" // AGNT5 form: {"name","parameters",...} = workflow.start
	kindAuth      = "auth"
	kindPing      = "ping"
)

const maxRequestID = 128

// maxJSONDepth bounds how deeply a frame's JSON may nest: decoding (and
// every later pass over the parameters) recurses once per level, so a
// 64 KB frame of brackets must not reach them.
const maxJSONDepth = 64

// nestedDeeper reports whether data opens more than max objects or arrays
// inside one another. It only counts brackets outside strings; validity is
// json.Unmarshal's job.
func nestedDeeper(data []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// clientFrame is one decoded client frame.
type clientFrame struct {
	Kind    string
	ID      string          // request id ("" for auth/ping)
	Service string          // request service
	Flow    string          // optional execution id carried in "flow"
	Request json.RawMessage // request payload (for shorthand: the whole frame)
	Token   string          // auth token
}

// rawFrame is the union of every client frame's fields. Fields are raw so
// that a wrong type is reported as INVALID_REQUEST with the field's name.
type rawFrame struct {
	Type    json.RawMessage `json:"type"`
	ID      json.RawMessage `json:"id"`
	Service json.RawMessage `json:"service"`
	Flow    json.RawMessage `json:"flow"`
	Request json.RawMessage `json:"request"`
	Token   json.RawMessage `json:"token"`
	Name    json.RawMessage `json:"name"`
}

// decodeFrame parses one client text frame. A frame it cannot accept gives
// an INVALID_REQUEST *weft.Error, and the request id when one was readable,
// so the error can be answered on that id.
func decodeFrame(data []byte) (clientFrame, error) {
	var raw rawFrame
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return clientFrame{}, invalid("", "frame must be a JSON object")
	}
	if nestedDeeper(trimmed, maxJSONDepth) {
		return clientFrame{}, invalid("", fmt.Sprintf("JSON nested deeper than %d levels", maxJSONDepth))
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return clientFrame{}, invalid("", "frame is not valid JSON")
	}
	typ, err := optionalString(raw.Type, "type")
	if err != nil {
		return clientFrame{}, err
	}
	switch typ {
	case "auth":
		token, err := optionalString(raw.Token, "token")
		if err != nil {
			return clientFrame{}, err
		}
		if token == "" {
			return clientFrame{}, invalid("", "auth frame needs a token")
		}
		return clientFrame{Kind: kindAuth, Token: token}, nil
	case "ping":
		return clientFrame{Kind: kindPing}, nil
	case "":
	default:
		return clientFrame{}, invalid("", "unknown frame type "+strconv.Quote(typ))
	}
	if !isPresent(raw.Service) && !isPresent(raw.ID) && isPresent(raw.Name) {
		return decodeShorthand(trimmed)
	}
	id, err := optionalString(raw.ID, "id")
	if err != nil {
		return clientFrame{}, err
	}
	if id == "" || utf8.RuneCountInString(id) > maxRequestID {
		return clientFrame{}, invalid("", "id must be a string of 1 to 128 characters")
	}
	service, err := optionalString(raw.Service, "service")
	if err != nil {
		return clientFrame{}, withID(err, id)
	}
	if service == "" {
		return clientFrame{}, invalid(id, "service is required")
	}
	flow, err := optionalString(raw.Flow, "flow")
	if err != nil {
		return clientFrame{}, withID(err, id)
	}
	if isPresent(raw.Request) && bytes.TrimSpace(raw.Request)[0] != '{' {
		return clientFrame{}, invalid(id, "request must be a JSON object")
	}
	return clientFrame{Kind: kindRequest, ID: id, Service: service, Flow: flow, Request: raw.Request}, nil
}

// decodeShorthand accepts the AGNT5 start frame. Its answers and events
// carry the new execution id as their "id".
func decodeShorthand(data []byte) (clientFrame, error) {
	var s struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
		Metadata   json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return clientFrame{}, invalid("", "name must be a string")
	}
	if s.Name == "" {
		return clientFrame{}, invalid("", "name is required")
	}
	req, _ := json.Marshal(map[string]json.RawMessage{
		"name": mustJSON(s.Name), "parameters": s.Parameters, "metadata": s.Metadata,
	})
	return clientFrame{Kind: kindShorthand, Service: "workflow.start", Request: req}, nil
}

func isPresent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

func optionalString(raw json.RawMessage, field string) (string, error) {
	if !isPresent(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("", field+" must be a string")
	}
	return s, nil
}

// frameError is a protocol error that knows the request id it answers.
type frameError struct {
	id  string
	err *weft.Error
}

func (e *frameError) Error() string { return e.err.Error() }
func (e *frameError) Unwrap() error { return e.err }

func invalid(id, msg string) error {
	return &frameError{id: id, err: weft.Errorf(weft.CodeInvalidRequest, "%s", msg)}
}

func withID(err error, id string) error {
	if fe, ok := err.(*frameError); ok {
		return &frameError{id: id, err: fe.err}
	}
	return err
}

func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic("ws: encode " + err.Error())
	}
	return raw
}

// Server frames. Each encoder returns the bytes of one text frame.

type errorBody struct {
	Code      weft.Code `json:"code"`
	Message   string    `json:"message"`
	Retryable bool      `json:"retryable"`
}

func errorBodyOf(err error) errorBody {
	e := weft.AsError(err)
	return errorBody{Code: e.Code, Message: e.Message, Retryable: e.Retryable()}
}

func encodeResponse(id string, response any, complete bool) []byte {
	return mustJSON(struct {
		ID       string `json:"id"`
		Response any    `json:"response"`
		Complete bool   `json:"complete"`
	}{id, response, complete})
}

func encodeError(id string, err error) []byte {
	return mustJSON(struct {
		ID    string    `json:"id,omitempty"`
		Error errorBody `json:"error"`
	}{id, errorBodyOf(err)})
}

func encodePush(typ string, data any) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
}

// encodeEvent renders an execution event on request id. The terminal event
// of a stream carries "complete":true.
func encodeEvent(id string, e events.Event, complete bool) []byte {
	var b bytes.Buffer
	b.Grow(128 + len(e.Data.Details))
	b.WriteString(`{"id":`)
	b.Write(mustJSON(id))
	b.WriteString(`,"type":`)
	b.Write(mustJSON(string(e.Type)))
	b.WriteString(`,"data":`)
	b.Write(mustJSON(e.Data))
	if complete {
		b.WriteString(`,"complete":true`)
	}
	b.WriteByte('}')
	return b.Bytes()
}
