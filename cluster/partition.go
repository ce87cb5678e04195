package cluster

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// DefaultPartitions is the number of partitions when Config.Partitions is
// zero. 64 keeps lease traffic small (a few KV writes per second per node)
// while a failed node's executions still spread over every survivor.
const DefaultPartitions = 64

// MaxPartitions bounds Config.Partitions: every node renews its share each
// RenewInterval, so the count sets the cluster's steady KV write rate.
const MaxPartitions = 4096

// Token is a lease's fencing token: the revision of the KV entry that
// acquired the partition. JetStream revisions only grow, so a later owner
// of the same partition always holds a larger token, and a write fenced by
// an older token can be refused.
type Token uint64

// PartitionOf is the partition of an execution: FNV-1a (32 bits) of its id,
// modulo the partition count. Every node of every version must compute the
// same value for the same id, so this function must never change; its
// table test pins it.
func PartitionOf(executionID string, partitions int) int {
	if partitions <= 0 {
		panic(fmt.Sprintf("cluster.PartitionOf: partitions = %d", partitions))
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(executionID)) // hash.Hash never fails
	return int(h.Sum32() % uint32(partitions))
}

// leaseKey is the key of partition p in the leases bucket.
func leaseKey(p int) string { return "p." + strconv.Itoa(p) }

// parseLeaseKey is leaseKey's inverse; ok is false for any other key (a
// key someone else wrote into the bucket is ignored, never trusted).
func parseLeaseKey(key string, partitions int) (p int, ok bool) {
	digits, found := strings.CutPrefix(key, "p.")
	if !found || digits == "" || len(digits) > 5 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	p, err := strconv.Atoi(digits)
	if err != nil || p >= partitions {
		return 0, false
	}
	return p, true
}

// nodeKey is the nodes-bucket key of a node id. Node ids default to
// "host:port", and ':' is not allowed in KV keys, so every byte outside
// [A-Za-z0-9_-] is written as '=' and two hex digits: readable for
// ordinary ids, and distinct ids never share a key.
func nodeKey(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}
