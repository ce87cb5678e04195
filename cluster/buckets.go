package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The buckets weft's cluster keeps in JetStream.
const (
	LeasesBucket = "weft_leases" // key p.<n>: the holder of partition n
	NodesBucket  = "weft_nodes"  // key <escaped node id>: a live node's heartbeat
)

// Bucket metadata keys: the settings every node must share, written by the
// node that creates the bucket.
const (
	metaPartitions = "weft.partitions"
	metaLeaseTTL   = "weft.lease_ttl"
)

// ErrConfigMismatch is returned by Join when the cluster's buckets were
// created with another partition count or lease TTL than this node's.
var ErrConfigMismatch = errors.New("cluster: this node's configuration differs from the cluster's")

// openBuckets opens (or, on the first start, creates) the leases and nodes
// buckets, and refuses a node whose partition count or TTL differs from
// the ones the leases bucket was created with.
func openBuckets(ctx context.Context, js jetstream.JetStream, cfg Config) (leases, nodes jetstream.KeyValue, err error) {
	leases, err = openBucket(ctx, js, bucketConfig(LeasesBucket, cfg, map[string]string{
		metaPartitions: strconv.Itoa(cfg.Partitions),
		metaLeaseTTL:   cfg.LeaseTTL.String(),
	}))
	if err != nil {
		return nil, nil, err
	}
	if err := checkShared(ctx, leases, cfg); err != nil {
		return nil, nil, err
	}
	nodes, err = openBucket(ctx, js, bucketConfig(NodesBucket, cfg, nil))
	if err != nil {
		return nil, nil, err
	}
	return leases, nodes, nil
}

// bucketConfig: the bucket's max age is the lease TTL, so an entry nobody
// renews disappears TTL after its last write (a renewal by Update is a new
// message, so the age counts from it). Limit markers make the expiry a
// message that watchers see at once. File storage keeps revisions growing
// across a full restart of the NATS cluster, which fencing tokens need.
func bucketConfig(name string, cfg Config, meta map[string]string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         name,
		Description:    "weft cluster: " + name,
		History:        1,
		TTL:            cfg.LeaseTTL,
		LimitMarkerTTL: cfg.LeaseTTL,
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
		Metadata:       meta,
	}
}

// openBucket binds to an existing bucket, else creates it. Two nodes
// creating it at once: one wins, the other binds to the winner's.
func openBucket(ctx context.Context, js jetstream.JetStream, kvc jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, kvc.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("cluster: open bucket %s: %w", kvc.Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, kvc)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, kvc.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: create bucket %s: %w", kvc.Bucket, err)
	}
	return kv, nil
}

// checkShared compares this node's partition count and TTL with the ones
// recorded in the leases bucket.
func checkShared(ctx context.Context, leases jetstream.KeyValue, cfg Config) error {
	st, err := leases.Status(ctx)
	if err != nil {
		return fmt.Errorf("cluster: read bucket %s: %w", LeasesBucket, err)
	}
	meta := st.Config().Metadata
	if got := meta[metaPartitions]; got != strconv.Itoa(cfg.Partitions) {
		return fmt.Errorf("%w: this node is configured with %d partitions, the cluster (bucket %s) with %q; every node needs the same partition count",
			ErrConfigMismatch, cfg.Partitions, LeasesBucket, got)
	}
	ttl, err := time.ParseDuration(meta[metaLeaseTTL])
	if err != nil || ttl != cfg.LeaseTTL || st.TTL() != cfg.LeaseTTL {
		return fmt.Errorf("%w: this node's lease TTL is %s, the cluster's (bucket %s) is %s; every node needs the same lease TTL",
			ErrConfigMismatch, cfg.LeaseTTL, LeasesBucket, st.TTL())
	}
	return nil
}
