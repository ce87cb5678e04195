package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// Signal inboxes are a stream, not a bucket: an inbox is a queue. Each
// execution has a subject (<prefix>.sig.<workspace>.<execution>); a signal
// is a message on it, its seq is the message's stream sequence (so it
// grows and is never reused), and consuming it deletes the message.

// signalValue is a signal as stored (its seq is the stream sequence).
type signalValue struct {
	Name       string          `json:"name"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}

// AddSignal appends a signal to an execution's inbox and returns it with
// its seq. With maxPending > 0, an inbox already holding that many
// signals refuses it with persistence.ErrLimit. The count and the append
// are one compare-and-set (the append is fenced on the inbox's last
// message), so concurrent signals on several nodes cannot overfill it.
func (s *Store) AddSignal(ctx context.Context, executionID, name string, payload json.RawMessage, maxPending int) (persistence.Signal, error) {
	if err := s.open(); err != nil {
		return persistence.Signal{}, err
	}
	if executionID == "" || name == "" {
		return persistence.Signal{}, fmt.Errorf("%w: signal needs an execution id and a name", persistence.ErrInvalid)
	}
	rv, _, err := s.getRecord(ctx, executionID)
	if err != nil {
		return persistence.Signal{}, err
	}
	sig := persistence.Signal{Name: name, Payload: payload, ReceivedAt: time.Now().UTC()}
	msg := nats.NewMsg(s.names.signalsSubject(rv.Exec.Workspace, executionID))
	if msg.Data, err = json.Marshal(signalValue{Name: name, Payload: payload, ReceivedAt: sig.ReceivedAt}); err != nil {
		return persistence.Signal{}, fmt.Errorf("jsstore: encode signal of %s: %w", executionID, err)
	}
	nonce := strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix) // one signal, however many attempts
	for range casAttempts {
		last, err := s.signals.GetLastMsgForSubject(ctx, msg.Subject)
		var lastSeq uint64
		switch {
		case err == nil:
			lastSeq = last.Sequence
		case !notFound(err):
			return persistence.Signal{}, fmt.Errorf("jsstore: signal inbox of %s: %w", executionID, err)
		}
		if maxPending > 0 && lastSeq > 0 {
			info, err := s.signals.Info(ctx, jetstream.WithSubjectFilter(msg.Subject))
			if err != nil {
				return persistence.Signal{}, fmt.Errorf("jsstore: signal inbox of %s: %w", executionID, err)
			}
			if pending := info.State.Subjects[msg.Subject]; pending >= uint64(maxPending) {
				return persistence.Signal{}, fmt.Errorf("execution %s holds %d unconsumed signals: %w", executionID, pending, persistence.ErrLimit)
			}
		}
		ack, err := s.publish(ctx, msg, nonce+":"+strconv.FormatUint(lastSeq, 10), lastSeq)
		if err == nil {
			sig.Seq = ack.Sequence
			return sig, nil
		}
		if !wrongLast(err) {
			return persistence.Signal{}, fmt.Errorf("jsstore: signal %s: %w", executionID, err)
		}
	}
	return persistence.Signal{}, fmt.Errorf("jsstore: the signal inbox of %s keeps changing", executionID)
}

// Signals returns the signals of an execution not yet consumed, oldest
// first, read from the stream leader (a consumed signal is never read
// back from a replica that has not deleted it yet).
func (s *Store) Signals(ctx context.Context, executionID string) ([]persistence.Signal, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	rv, _, err := s.getRecord(ctx, executionID)
	if err != nil {
		return nil, err
	}
	out := []persistence.Signal{}
	err = eachMsg(ctx, s.signals, s.names.signalsSubject(rv.Exec.Workspace, executionID), func(raw *jetstream.RawStreamMsg) error {
		var v signalValue
		if err := json.Unmarshal(raw.Data, &v); err != nil {
			return fmt.Errorf("%w: signal %d of %s: %v", ErrCorrupt, raw.Sequence, executionID, err)
		}
		out = append(out, persistence.Signal{Seq: raw.Sequence, Name: v.Name, Payload: v.Payload, ReceivedAt: v.ReceivedAt})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
