package openai

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxLine bounds one line of the stream. A chunk is a few hundred bytes;
// a megabyte is a server gone wrong, not a token.
const maxLine = 1 << 20

// errLineTooLong is a stream line over maxLine.
var errLineTooLong = errors.New("stream line too long")

// sseReader splits a text/event-stream (the WHATWG server-sent events
// format) into the data of its events. OpenAI-compatible servers send one
// `data:` line per event; the reader also takes the rest of the format
// they may add: comments (": keep-alive"), event/id/retry fields
// (ignored), data spread over several lines, and LF, CRLF or CR line ends.
type sseReader struct {
	sc *bufio.Scanner
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	sc.Split(scanLines)
	return &sseReader{sc: sc}
}

// Next returns the data of the next event that has any, and io.EOF at the
// end of the stream. An event cut off by the end of the stream (data lines
// with no blank line after them) is still returned: servers differ on the
// last blank line, and a truncated chunk shows up as bad JSON anyway.
func (r *sseReader) Next() ([]byte, error) {
	var data []byte
	has := false
	for r.sc.Scan() {
		field, value, ok := parseLine(r.sc.Bytes())
		switch {
		case !ok: // blank line: dispatch
			if has {
				return data, nil
			}
		case field == "data":
			if has {
				data = append(data, '\n')
			}
			data = append(data, value...)
			has = true
		}
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, errLineTooLong
		}
		return nil, err
	}
	if has {
		return data, nil
	}
	return nil, io.EOF
}

// parseLine splits one line into its field and value; ok is false for a
// blank line (the end of an event). A comment (a line starting with ':')
// is a field named "".
func parseLine(line []byte) (field string, value []byte, ok bool) {
	if len(line) == 0 {
		return "", nil, false
	}
	name, val, found := bytes.Cut(line, []byte{':'})
	if !found {
		return string(line), nil, true
	}
	val = bytes.TrimPrefix(val, []byte{' '})
	return string(name), val, true
}

// scanLines is bufio.ScanLines for the three SSE line ends: LF, CRLF and
// a lone CR.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// CR: a CRLF pair if LF follows; wait for the next byte to know.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
