package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// executionEvents serves GET /api/v1/executions/{id}/events: the stored
// history as JSON lines, or with Accept: text/event-stream a live SSE
// stream that ends after the terminal event.
func (a *API) executionEvents(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	after, err := afterSeq(r)
	if err != nil {
		return err
	}
	if wantsSSE(r) {
		return a.streamEvents(w, r, who, after)
	}
	return a.historyLines(w, r, who, after)
}

// afterSeq reads ?after_seq=N; for SSE a Last-Event-ID header wins (it is
// what EventSource sends when it reconnects).
func afterSeq(r *http.Request) (uint64, error) {
	if wantsSSE(r) {
		if last := strings.TrimSpace(r.Header.Get("Last-Event-ID")); last != "" {
			n, err := strconv.ParseUint(last, 10, 64)
			if err != nil {
				return 0, weft.Errorf(weft.CodeInvalidRequest, "Last-Event-ID must be an event seq")
			}
			return n, nil
		}
	}
	s := r.URL.Query().Get("after_seq")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, weft.Errorf(weft.CodeInvalidRequest, "after_seq must be a non-negative integer")
	}
	return n, nil
}

func wantsSSE(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mediaType, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// historyLines writes one {"type","data"} object per line. The status is
// sent with the first line, so a refusal (scope, workspace) still gets its
// own status; an error after that ends the body with an {"error":{...}}
// line.
func (a *API) historyLines(w http.ResponseWriter, r *http.Request, who weft.Identity, after uint64) error {
	rc := longAnswer(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // the connection may serve another request
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
		}
	}
	err := a.svc.History(r.Context(), who, r.PathValue("id"), after, func(e events.Event) error {
		line, err := json.Marshal(e)
		if err != nil {
			return weft.Internal(err)
		}
		start()
		_ = rc.SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))
		_, err = w.Write(append(line, '\n'))
		return err
	})
	switch {
	case err == nil:
		start()
		return nil
	case !started:
		return err
	case r.Context().Err() != nil:
		return nil // the client left
	}
	var werr *weft.Error
	if !errors.As(err, &werr) {
		return nil // a write failed: the client is gone
	}
	a.log.Warn().Err(err).Str("path", r.URL.Path).Msg("event history cut short")
	line, _ := json.Marshal(map[string]ErrorBody{"error": BodyOf(err)})
	_, _ = w.Write(append(line, '\n'))
	return nil
}

// streamEvents follows an execution as Server-Sent Events: "id:" is the
// seq, "event:" the type, "data:" the event's data object. It ends after
// the terminal event, when the client leaves, or at server shutdown (the
// client resumes with Last-Event-ID). An execution that has ended with
// nothing after the requested seq answers 204, which tells EventSource to
// stop reconnecting.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request, who weft.Identity, after uint64) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sub, err := a.svc.Subscribe(ctx, who, r.PathValue("id"), after)
	if err != nil {
		return err
	}
	defer sub.Close()
	if sub.Ended {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	rc := longAnswer(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // the connection may serve another request
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// write sends one block and flushes it, within the write timeout.
	write := func(block []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))
		if _, err := w.Write(block); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write([]byte(": following " + sub.Info.ExecutionID + "\n\n")); err != nil {
		return nil
	}

	// Run delivers on this channel; only this goroutine writes to w.
	feed := make(chan events.Stored)
	ran := make(chan error, 1)
	go func() {
		ran <- sub.RunStored(ctx, func(e events.Stored) error {
			select {
			case feed <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	heartbeat := time.NewTicker(a.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case e := <-feed:
			if err := write(sseEvent(e)); err != nil {
				return nil // the client is gone or stalled
			}
			heartbeat.Reset(a.cfg.Heartbeat)
		case <-heartbeat.C:
			if err := write([]byte(": heartbeat\n\n")); err != nil {
				return nil
			}
		case err := <-ran:
			if err != nil && ctx.Err() == nil {
				if weft.ErrorCode(err) == weft.CodeInternal {
					a.log.Error().Err(err).Str("path", r.URL.Path).Msg("event stream failed")
				}
				data, _ := json.Marshal(map[string]ErrorBody{"error": BodyOf(err)})
				_ = write([]byte("event: error\ndata: " + string(data) + "\n\n"))
			}
			return nil
		case <-a.done:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// longAnswer lifts the server's ReadTimeout for an answer that may last
// longer (an event stream, a long history): the request has been read,
// and a read deadline passing would cancel the request's context. Writes
// are bounded by Config.WriteTimeout each instead.
func longAnswer(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	return rc
}

// sseEvent renders one event block from the stored bytes. Event data is
// one line of JSON, so a single data: line carries it.
func sseEvent(e events.Stored) []byte {
	data := e.DataJSON()
	b := make([]byte, 0, len(data)+64)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, e.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
