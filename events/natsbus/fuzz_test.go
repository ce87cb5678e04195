package natsbus_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/weft-run/weft/events/natsbus"
	"github.com/weft-run/weft/internal/natstest"
)

// FuzzMetadata publishes one message with arbitrary metadata, UUID and
// payload through a real server. What Publish accepts arrives exactly as
// sent; what it refuses is ErrBadMetadata. Then the same header comes from
// another NATS client, unchecked (the bus's subjects are open to any client
// of the account): the subscriber takes whatever NATS delivers without
// panicking, and the UUID header never shows as metadata.
func FuzzMetadata(f *testing.F) {
	f.Add("seq", "42", "exec_1/42", []byte(`{"type":"llm_delta"}`))
	f.Add("", "", "", []byte{})
	f.Add("k", "v\r\nseq: 9", "u", []byte("x"))
	f.Add("Key:", " v ", "u\n", []byte{0, 1, 2})
	f.Add(natsbus.UUIDHeader, "x", "", []byte("NATS/1.0\r\n\r\n"))
	f.Add("clé", "välue", "ü", []byte{0xff})

	srv := natstest.Server(f)
	ps := natsbus.New(natstest.Connect(f, srv.URL()))
	f.Cleanup(func() { _ = ps.Close() })
	raw := natstest.Connect(f, srv.URL())
	msgs, err := ps.Subscribe(f.Context(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, key, value, uuid string, payload []byte) {
		m := message.NewMessage(uuid, payload)
		m.Metadata.Set(key, value)
		err := ps.Publish("fuzz", m)
		switch {
		case errors.Is(err, natsbus.ErrBadMetadata):
		case err != nil:
			t.Fatalf("Publish = %v", err)
		default:
			got := receive(t, msgs)
			if got.UUID != uuid || !bytes.Equal(got.Payload, payload) || len(got.Metadata) != 1 || got.Metadata[key] != value {
				t.Fatalf("sent uuid %q, %q=%q, %d bytes; got uuid %q, %q, %d bytes", uuid, key, value, len(payload), got.UUID, got.Metadata, len(got.Payload))
			}
		}

		if strings.ContainsAny(key+value, "\r\n") {
			return // a header line broken by the client itself: not what a subscriber can be sent
		}
		nm := &nats.Msg{Subject: natsbus.Subject("fuzz"), Data: payload, Header: nats.Header{key: {value, value}}}
		if err := raw.PublishMsg(nm); err != nil {
			return // the client refused it
		}
		end := &nats.Msg{Subject: natsbus.Subject("fuzz"), Header: nats.Header{natsbus.UUIDHeader: {"end"}}}
		if err := raw.PublishMsg(end); err != nil {
			t.Fatal(err)
		}
		for {
			got := receive(t, msgs)
			if _, ok := got.Metadata[natsbus.UUIDHeader]; ok {
				t.Fatalf("the UUID header as metadata: %q", got.Metadata)
			}
			if got.UUID == "end" {
				return
			}
		}
	})
}
