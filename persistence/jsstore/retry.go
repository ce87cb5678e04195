package jsstore

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// While a JetStream server restarts or a stream elects a new leader (a
// few seconds), requests time out or find no responder. Every request of
// the store goes through retry, with a bounded attempt each, until its
// context ends. Retrying is safe because every write is idempotent or
// checked: appends and signals carry a message id (a retry of one that
// landed is answered as a duplicate), puts and purges are idempotent, and
// a compare-and-set retried after it landed loses to itself and is then
// read back (project.go).

// retryPause is the wait between two attempts.
const retryPause = 50 * time.Millisecond

// retry runs fn until it succeeds, fails for another reason than an
// absent server or leader, or ctx ends.
func retry(ctx context.Context, fn func(ctx context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := fn(attempt)
		cancel()
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryPause):
		}
	}
}

// errCodeDupInProcess is the server's answer to a publish whose message
// id is that of a publish still being stored (an attempt that timed out on
// a slow replicated stream): the retry is answered once that one is in.
// nats.go has no name for it.
const errCodeDupInProcess jetstream.ErrorCode = 10158

// A replicated stream's leader answers a publish fenced on a subject's
// last sequence with 10164 ("wrong last sequence", no sequence given)
// while an earlier message of that subject is still in process. It also
// does so just after it acknowledged that message: nats-server (2.15)
// sends the ack before it clears the subject's in-process mark, so a
// writer that appends its next write as soon as the ack arrives can find
// its own previous write "in process" (seen under CPU load in the R3
// conformance test: a write of a single writer refused as fenced). The
// publish was not stored; sent again once the subject is settled, it is
// checked for real: stored, or refused with 10071 and the subject's last
// sequence (a fence, or a compare-and-set lost).
//
// nats.go names the code JSErrCodeStreamWrongLastSequenceConstant.

// retryable reports whether a request may be sent again: no answer came,
// JetStream said it is unavailable for now (no leader yet), the same
// message is still being stored, or the subject is still in process.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.Code == http.StatusServiceUnavailable ||
		apiErr.ErrorCode == errCodeDupInProcess || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

func retry1[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := retry(ctx, func(ctx context.Context) (err error) {
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// retryKV is a bucket whose requests go through retry.
type retryKV struct{ jetstream.KeyValue }

func (kv retryKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	return retry1(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return kv.KeyValue.Get(ctx, key) })
}

func (kv retryKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return retry1(ctx, func(ctx context.Context) (uint64, error) { return kv.KeyValue.Put(ctx, key, value) })
}

func (kv retryKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return retry1(ctx, func(ctx context.Context) (uint64, error) { return kv.KeyValue.Create(ctx, key, value, opts...) })
}

func (kv retryKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return retry1(ctx, func(ctx context.Context) (uint64, error) { return kv.KeyValue.Update(ctx, key, value, revision) })
}

func (kv retryKV) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return retry(ctx, func(ctx context.Context) error { return kv.KeyValue.Purge(ctx, key, opts...) })
}

// retryStream is a stream whose requests go through retry.
type retryStream struct{ jetstream.Stream }

func (st retryStream) GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	return retry1(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return st.Stream.GetMsg(ctx, seq, opts...) })
}

func (st retryStream) GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return retry1(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return st.Stream.GetLastMsgForSubject(ctx, subject)
	})
}

func (st retryStream) DeleteMsg(ctx context.Context, seq uint64) error {
	return retry(ctx, func(ctx context.Context) error { return st.Stream.DeleteMsg(ctx, seq) })
}

func (st retryStream) Purge(ctx context.Context, opts ...jetstream.StreamPurgeOpt) error {
	return retry(ctx, func(ctx context.Context) error { return st.Stream.Purge(ctx, opts...) })
}

func (st retryStream) Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	return retry1(ctx, func(ctx context.Context) (*jetstream.StreamInfo, error) { return st.Stream.Info(ctx, opts...) })
}
