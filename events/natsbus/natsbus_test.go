package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/weft-run/weft/events/natsbus"
	"github.com/weft-run/weft/internal/natstest"
)

// wait bounds every wait for a message: long enough for a loaded machine,
// only reached when the test is failing anyway.
const wait = 15 * time.Second

func newPubSub(t *testing.T, opts ...natsbus.Option) (*natsbus.PubSub, *nats.Conn) {
	t.Helper()
	nc := natstest.Connect(t, natstest.Server(t).URL())
	ps := natsbus.New(nc, opts...)
	t.Cleanup(func() { _ = ps.Close() })
	return ps, nc
}

func receive(t *testing.T, msgs <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok {
			t.Fatal("channel closed, want a message")
		}
		return m
	case <-time.After(wait):
		t.Fatal("no message")
		return nil
	}
}

// Payloads arrive as the bytes published (the stored event, framed as is
// by every subscriber), in order, once each, with the UUID and metadata.
func TestPayloadAndMetadataUnchanged(t *testing.T) {
	ps, _ := newPubSub(t)
	msgs, err := ps.Subscribe(t.Context(), "executions.exec_1")
	if err != nil {
		t.Fatal(err)
	}
	payloads := [][]byte{
		[]byte(`{"type":"execution_started","data":{"seq":1}}`),
		{},
		{0, 0xff, '\r', '\n', 'N', 'A', 'T', 'S', '/', '1', '.', '0', '\r', '\n', '\r', '\n'},
		[]byte("héllo \"quoted\" <tag>\x00"),
		bytes.Repeat([]byte{0xfe, 'x'}, 100_000),
	}
	for i, p := range payloads {
		m := message.NewMessage(fmt.Sprintf("exec_1/%d", i+1), p)
		m.Metadata.Set("seq", fmt.Sprint(i+1))
		m.Metadata.Set("lower-case_Key", "value: with colon\tand tab")
		m.Metadata.Set("empty", "")
		if err := ps.Publish("executions.exec_1", m); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range payloads {
		m := receive(t, msgs)
		if !bytes.Equal(m.Payload, p) {
			t.Fatalf("message %d: payload of %d bytes differs from the %d published", i, len(m.Payload), len(p))
		}
		want := message.Metadata{"seq": fmt.Sprint(i + 1), "lower-case_Key": "value: with colon\tand tab", "empty": ""}
		if fmt.Sprint(m.Metadata) != fmt.Sprint(want) || m.UUID != fmt.Sprintf("exec_1/%d", i+1) {
			t.Fatalf("message %d: uuid %q, metadata %q; want exec_1/%d, %q", i, m.UUID, m.Metadata, i+1, want)
		}
	}
	select {
	case m := <-msgs:
		t.Fatalf("a message more: %q", m.Payload)
	default:
	}
}

// Metadata a header cannot carry unchanged is refused, and nothing of the
// batch is sent.
func TestBadMetadataRefused(t *testing.T) {
	ps, _ := newPubSub(t)
	msgs, err := ps.Subscribe(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, value string
	}{
		{"empty key", "", "v"},
		{"colon in key", "a:b", "v"},
		{"quote in key", `a"b`, "v"},
		{"slash in key", "a/b", "v"},
		{"space in key", "a b", "v"},
		{"newline in key", "a\nb", "v"},
		{"non-ASCII key", "clé", "v"},
		{"reserved key", natsbus.UUIDHeader, "v"},
		{"CRLF in value", "k", "v\r\nseq: 9"},
		{"LF in value", "k", "v\n"},
		{"leading space", "k", " v"},
		{"leading tab", "k", "\tv"},
		{"trailing space", "k", "v "},
		{"trailing tab", "k", "v\t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := message.NewMessage("1", []byte("good"))
			bad := message.NewMessage("2", []byte("bad"))
			bad.Metadata.Set(tc.key, tc.value)
			if err := ps.Publish("t", good, bad); !errors.Is(err, natsbus.ErrBadMetadata) {
				t.Fatalf("Publish = %v, want ErrBadMetadata", err)
			}
		})
	}
	bad := message.NewMessage("bad\nuuid", nil)
	if err := ps.Publish("t", bad); !errors.Is(err, natsbus.ErrBadMetadata) {
		t.Fatalf("Publish with a line break in the UUID = %v, want ErrBadMetadata", err)
	}
	if err := ps.Publish("t", message.NewMessage("last", []byte("last"))); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, msgs); string(m.Payload) != "last" {
		t.Fatalf("got %q first: a refused batch was partly sent", m.Payload)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ topic, want string }{
		{"executions.exec_1", "weft.live.executions.exec_1"},
		{"a-b_C9", "weft.live.a-b_C9"},
		{"executions.a b", "weft.live.executions.=YSBi"},
		{"x.*", "weft.live.x.=Kg"},
		{"x.>", "weft.live.x.=Pg"},
		{"x..y", "weft.live.x.=.y"},
		{"", "weft.live.="},
		{"é", "weft.live.=w6k"},
	}
	for _, tc := range tests {
		if got := natsbus.Subject(tc.topic); got != tc.want {
			t.Errorf("Subject(%q) = %q, want %q", tc.topic, got, tc.want)
		}
	}
}

// A topic that looks like a wildcard is a topic like any other: it gets
// only its own messages.
func TestWildcardTopicIsLiteral(t *testing.T) {
	ps, _ := newPubSub(t)
	star, err := ps.Subscribe(t.Context(), "x.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Publish("x.y", message.NewMessage("1", []byte("y"))); err != nil {
		t.Fatal(err)
	}
	if err := ps.Publish("x.*", message.NewMessage("2", []byte("star"))); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, star); string(m.Payload) != "star" {
		t.Fatalf("x.* got %q", m.Payload)
	}
}

// Subscriptions end with their context or with Close, which returns once
// every channel is closed; no goroutine of natsbus (or of its NATS
// subscriptions) is left.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	ignore := goleak.IgnoreCurrent()
	ps := natsbus.New(nc)

	ctx, cancel := context.WithCancel(t.Context())
	byCtx, err := ps.Subscribe(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var byClose []<-chan *message.Message
	for i := range 10 {
		msgs, err := ps.Subscribe(t.Context(), fmt.Sprintf("b%d", i))
		if err != nil {
			t.Fatal(err)
		}
		byClose = append(byClose, msgs)
	}
	if err := ps.Publish("b3", message.NewMessage("1", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	receive(t, byClose[3])

	cancel()
	for range byCtx {
		t.Fatal("a message on a", "cancelled subscription")
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	for i, msgs := range byClose {
		select {
		case _, ok := <-msgs:
			if ok {
				t.Fatalf("subscription %d: a message after Close", i)
			}
		default:
			t.Fatalf("subscription %d: channel open after Close returned", i)
		}
	}
	if err := ps.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := ps.Publish("a", message.NewMessage("1", nil)); !errors.Is(err, natsbus.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := ps.Subscribe(t.Context(), "a"); !errors.Is(err, natsbus.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if nc.NumSubscriptions() != 0 {
		t.Fatalf("%d NATS subscriptions left", nc.NumSubscriptions())
	}
	goleak.VerifyNone(t, ignore)
}

// A subscriber that does not read loses what does not fit in its queue,
// and Dropped counts it; what it kept comes in order.
func TestFullQueueDrops(t *testing.T) {
	ps, nc := newPubSub(t, natsbus.WithQueueSize(3))
	msgs, err := ps.Subscribe(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := ps.Publish("t", message.NewMessage(fmt.Sprint(i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "7 messages dropped", func() bool { return ps.Dropped() == 7 })
	for i := range 3 {
		if m := receive(t, msgs); m.UUID != fmt.Sprint(i) {
			t.Fatalf("message %d is %s", i, m.UUID)
		}
	}
}

// The connection reconnects after its server restarts, and the
// subscription goes on (nats.go subscribes again); a message published
// while the server was down may be lost, not reordered or doubled.
func TestReconnect(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.URL())
	ps := natsbus.New(nc)
	defer ps.Close()
	msgs, err := ps.Subscribe(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(uuid string) {
		if err := ps.Publish("t", message.NewMessage(uuid, nil)); err != nil {
			t.Fatal(err)
		}
	}
	publish("before")
	if m := receive(t, msgs); m.UUID != "before" {
		t.Fatalf("got %s", m.UUID)
	}
	srv.Shutdown()
	srv.Restart(t)
	waitFor(t, "reconnected", nc.IsConnected)
	// The subscription is sent again on reconnect; one published after a
	// round trip on the same connection is seen by it.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	publish("after")
	if m := receive(t, msgs); m.UUID != "after" {
		t.Fatalf("got %s after the restart", m.UUID)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
