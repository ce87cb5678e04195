package artifacts

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/internal/natstest"
)

// Ids come from clients: only plain tokens reach a key.
func TestMetaKey(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"art_06h46fsejhaszn8scqy63bxf", true},
		{"ART-1", true},
		{"", false},
		{"a.b", false},
		{"a*", false},
		{"a>", false},
		{"a b", false},
		{"é", false},
		{strings.Repeat("a", 129), false},
	} {
		if got := metaKey("acme corp", tc.id); (got != "") != tc.ok {
			t.Errorf("metaKey(%q) = %q, want ok %v", tc.id, got, tc.ok)
		}
	}
	if metaKey("a.b", "x") == metaKey("a", "b.x") {
		t.Error("workspaces collide")
	}
}

func openJS(t *testing.T, max int64) *JetStream {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, natstest.Server(t).URL()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenJetStream(t.Context(), js, 1, max)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Reads at any offset, in any order, as a download's seeks and ranges do;
// too large leaves nothing; an object without metadata is swept.
func TestJetStreamReadSeekTooLargeOrphans(t *testing.T) {
	s := openJS(t, 1<<20)
	body := bytes.Repeat([]byte("0123456789"), 50_000) // several chunks
	m, err := s.Put(t.Context(), "ws", "", "digits", "", bytes.NewReader(body))
	if err != nil || m.Size != int64(len(body)) || m.ContentType != "application/octet-stream" {
		t.Fatalf("put: %+v, %v", m, err)
	}
	f, _, err := s.Open("ws", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range []int64{0, 400_000, 17, 499_990} {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 10)
		if _, err := io.ReadFull(f, got); err != nil || !bytes.Equal(got, body[off:off+10]) {
			t.Fatalf("at %d: %q, %v", off, got, err)
		}
	}
	if end, _ := f.Seek(0, io.SeekEnd); end != int64(len(body)) {
		t.Fatalf("end %d", end)
	}
	if n, err := f.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d, %v", n, err)
	}
	if _, _, err := s.Open("other", m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another workspace opened it: %v", err)
	}

	small := openJS(t, 100)
	if _, err := small.Put(t.Context(), "ws", "", "big", "", bytes.NewReader(body)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if infos, err := small.objects.List(t.Context()); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatalf("a too large upload left %d objects (%v)", len(infos), err)
	}

	// A node that died between the object and its metadata.
	if _, err := s.objects.PutBytes(t.Context(), "art_orphan", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Expire(t.Context(), time.Now(), 0, nil); n != 0 || err != nil {
		t.Fatalf("a fresh orphan was swept: %d, %v", n, err)
	}
	if n, err := s.Expire(t.Context(), time.Now().Add(2*orphanAge), 0, nil); n != 1 || err != nil {
		t.Fatalf("old orphan sweep: %d, %v", n, err)
	}
	if _, err := s.Get("ws", m.ID); err != nil {
		t.Fatalf("the artifact went with the orphan: %v", err)
	}
}
