package cluster_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/internal/natstest"
)

// ghostLease writes partition p's lease for a holder that is not a node,
// compare-and-set on rev (0: the key must not exist), and returns the
// new revision. Its per-message TTL is "never", so that JetStream does
// not expire it: it stands for an expiry that comes late (the leases
// bucket's leader died with the holder, and its successor has not yet run
// its expiry).
func ghostLease(t *testing.T, js jetstream.JetStream, p int, rev uint64) uint64 {
	t.Helper()
	msg := nats.NewMsg("$KV." + cluster.LeasesBucket + ".p." + strconv.Itoa(p))
	msg.Data = []byte(`{"node":"ghost","instance":"inst_ghost"}`)
	msg.Header.Set("Nats-TTL", "never")
	ack, err := js.PublishMsg(context.Background(), msg, jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		t.Fatalf("ghost lease of partition %d: %v", p, err)
	}
	return ack.Sequence
}

// oneNodeFourPartitions joins a node that holds all of 4 partitions (fast
// lease timings), and connects a client to the leases bucket.
func oneNodeFourPartitions(t *testing.T) (*testNode, cluster.Config, jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	srv := natstest.Server(t)
	cfg := fastConfig("n1")
	cfg.Partitions = 4
	n := newTracker(t).join(t, srv.URL(), cfg)
	eventually(t, 20*time.Second, "it holds all 4", func() bool { return holdAll(4, n) })
	js, kv := leasesBucket(t, srv.URL())
	return n, cfg, js, kv
}

// leasesBucket connects a client of its own to the leases bucket.
func leasesBucket(t *testing.T, url string) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), cluster.LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	return js, kv
}

// leaseRevision is the revision of partition p's lease.
func leaseRevision(t *testing.T, kv jetstream.KeyValue, p int) uint64 {
	t.Helper()
	e, err := kv.Get(context.Background(), "p."+strconv.Itoa(p))
	if err != nil {
		t.Fatal(err)
	}
	return e.Revision()
}

// A lease that nobody renews is taken over TTL (and a margin) after it
// last changed, even when JetStream has not expired it; never earlier.
func TestStaleLeaseTakenOver(t *testing.T) {
	n, cfg, js, kv := oneNodeFourPartitions(t)
	written := time.Now()
	ghostLease(t, js, 2, leaseRevision(t, kv, 2))
	eventually(t, 5*time.Second, "Lost(2, Taken)", func() bool { return len(n.Owned()) == 3 })

	eventually(t, 20*time.Second, "partition 2 taken back", func() bool { return len(n.Owned()) == 4 })
	if took := time.Since(written); took < cfg.LeaseTTL {
		t.Errorf("the stale lease was taken over %v after its last write, before its TTL of %v", took, cfg.LeaseTTL)
	}
	if tok, rev := n.Owned()[2], leaseRevision(t, kv, 2); uint64(tok) != rev {
		t.Errorf("holds partition 2 with token %d, the lease is at revision %d", tok, rev)
	}
}

// A lease its holder keeps renewing is never taken over, however long it
// has been held.
func TestRenewedLeaseNotTakenOver(t *testing.T) {
	n, cfg, js, kv := oneNodeFourPartitions(t)
	rev := ghostLease(t, js, 1, leaseRevision(t, kv, 1))
	eventually(t, 5*time.Second, "Lost(1, Taken)", func() bool { return len(n.Owned()) == 3 })
	for end := time.Now().Add(3 * cfg.LeaseTTL); time.Now().Before(end); {
		time.Sleep(cfg.RenewInterval)
		rev = ghostLease(t, js, 1, rev) // the ghost renews, as a live holder does
		if _, held := n.Owned()[1]; held {
			t.Fatal("a lease renewed every interval was taken over")
		}
	}
}
