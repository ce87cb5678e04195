package jsstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/persistence/storetest"
)

// prefixes makes each store of a test run its own streams and buckets on
// a shared server.
var prefixes atomic.Int64

func openStore(t *testing.T, nc *nats.Conn, opts jsstore.Options) *jsstore.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("T%d", prefixes.Add(1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := jsstore.Open(ctx, nc, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	storetest.Run(t, func(t *testing.T) storetest.Store { return openStore(t, nc, jsstore.Options{}) })
}

var _ storetest.Store = (*jsstore.Store)(nil)

func TestPortableConformance(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	storetest.RunPortable(t, func(t *testing.T) storetest.PortableStore { return openStore(t, nc, jsstore.Options{}) })
}
