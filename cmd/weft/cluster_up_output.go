package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// maxLine bounds a line held back while its end has not come: a child
// that writes more without a newline has it written as a line.
const maxLine = 64 << 10

// lineMux writes the output of cluster up and its children to one writer
// a whole line at a time, so that lines of different processes never mix;
// in console format each line starts with its process's name.
type lineMux struct {
	mu     sync.Mutex
	w      io.Writer
	prefix bool
}

func newLineMux(w io.Writer, prefix bool) *lineMux { return &lineMux{w: w, prefix: prefix} }

// writer is the output of one process, named name.
func (m *lineMux) writer(name string) *lineWriter {
	lw := &lineWriter{mux: m}
	if m.prefix {
		lw.prefix = []byte(fmt.Sprintf("%-5s | ", name))
	}
	return lw
}

// lineWriter is one process's output: whole lines go through at once,
// a line without its end yet waits for it (or for flush).
type lineWriter struct {
	mux     *lineMux
	prefix  []byte
	partial []byte // guarded by mux.mu
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mux.mu.Lock()
	defer lw.mux.mu.Unlock()
	lw.partial = append(lw.partial, p...)
	rest := lw.partial
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		lw.emit(rest[:i+1])
		rest = rest[i+1:]
	}
	if len(rest) > maxLine {
		lw.emit(append(rest, '\n'))
		rest = nil
	}
	lw.partial = append(lw.partial[:0], rest...)
	return len(p), nil
}

// flush writes what is left of a last line without its end.
func (lw *lineWriter) flush() {
	lw.mux.mu.Lock()
	defer lw.mux.mu.Unlock()
	if len(lw.partial) > 0 {
		lw.emit(append(lw.partial, '\n'))
		lw.partial = lw.partial[:0]
	}
}

// emit writes one line; the caller holds mux.mu. A failed write of the
// terminal is not the children's concern: it is dropped.
func (lw *lineWriter) emit(line []byte) {
	if lw.prefix != nil {
		_, _ = lw.mux.w.Write(append(append([]byte{}, lw.prefix...), line...))
		return
	}
	_, _ = lw.mux.w.Write(line)
}
