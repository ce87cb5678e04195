package jsstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRetryable(t *testing.T) {
	api := func(status int, code jetstream.ErrorCode) error {
		return fmt.Errorf("publish: %w", &jetstream.APIError{Code: status, ErrorCode: code, Description: "x"})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"attempt timed out", fmt.Errorf("a: %w", context.DeadlineExceeded), true},
		{"no answer", nats.ErrTimeout, true},
		{"no responders", nats.ErrNoResponders, true},
		{"no stream response", jetstream.ErrNoStreamResponse, true},
		{"no leader yet", api(http.StatusServiceUnavailable, 10008), true},
		{"same message still being stored", api(400, errCodeDupInProcess), true},
		{"subject still in process (10164)", api(400, jetstream.JSErrCodeStreamWrongLastSequenceConstant), true},
		{"wrong last sequence with the subject's last (10071)", api(400, jetstream.JSErrCodeStreamWrongLastSequence), false},
		{"message too large", api(400, jetstream.JSErrCodeStreamMessageExceedsMaximum), false},
		{"stream not found", api(404, jetstream.JSErrCodeStreamNotFound), false},
		{"caller gave up", context.Canceled, false},
		{"other", errors.New("boom"), false},
	}
	for _, tc := range tests {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A retried 10164 ends with the real answer: a writer fenced while the
// other writer's message was in process is still fenced once it is not
// (retry sends it again; the fence check then answers 10071).
func TestRetryEndsWhenTheSubjectSettles(t *testing.T) {
	calls := 0
	err := retry(t.Context(), func(context.Context) error {
		calls++
		if calls < 3 {
			return &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant}
		}
		return &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}
	})
	if !wrongLast(err) || calls != 3 {
		t.Fatalf("retry = %v after %d calls; want the 10071 of the third", err, calls)
	}
}
