// Package cluster is what makes N weft nodes one: membership and
// ownership on NATS JetStream key-value buckets, with no consensus of
// weft's own (PROTOCOL.md section 11, issue 15).
//
// # Partitions
//
// Executions are spread over a fixed number of partitions (Config.
// Partitions, 64 by default): an execution belongs to partition
// PartitionOf(id, P), an FNV-1a hash of its id, and runs on the node that
// holds that partition's lease. P is recorded in the leases bucket by the
// first node and a node configured differently is refused
// (ErrConfigMismatch): changing it would move executions between
// partitions under their owners.
//
// # Leases
//
// A lease is a key p.<n> in the weft_leases bucket naming the holding node
// and run (an instance id drawn at each start). The bucket's max age is the
// lease TTL (10 s): a renewal is an Update, a new message, so the age
// counts from the last renewal, and an entry nobody renews disappears TTL
// later, leaving a limit marker that every watcher sees at once.
//   - Acquire: Create, which succeeds only on an absent or deleted key;
//     of two nodes racing for a partition exactly one wins.
//   - Renew (every 3 s): Update compare-and-set on the last revision. A
//     mismatch means someone else wrote the key: the lease is lost (Taken).
//   - Give up: a node that could not renew by its deadline, send time of
//     the last successful renewal + TTL - TTL/10, drops the lease (Expired)
//     before the server can free it, even when the server still holds it
//     (a lost connection, a paused process). Holds checks the deadline
//     itself, so a node whose goroutine is late still stops acting.
//   - Release (rebalance, Shutdown): the handler stops the partition's
//     executions, then the lease is deleted with compare-and-set, and
//     another node takes it at once.
//
// The revision that acquired a lease is its fencing Token: revisions only
// grow, so a later owner always holds a larger token than an earlier one.
//
// Each node aims at ceil(P / live nodes) partitions. It takes free ones up
// to that share, gives back the excess when a live node holds fewer than
// floor(P / live nodes) (a node joined), and takes any partition left free
// for a renew interval whatever its share (orphans are worse than an
// imbalance).
//
// # Membership
//
// Each node keeps a heartbeat in the weft_nodes bucket (id, address,
// start time, instance), renewed with its leases; Members lists them. A
// second live node with the same id is refused (ErrDuplicateNode); a
// heartbeat nobody renews for two renew intervals is a crashed earlier run
// of this id, and a restarted node takes it over, but never that run's
// leases: it waits for them to expire.
//
// # Concurrency
//
// Join starts one goroutine per node that owns all of its state: it
// renews, watches both buckets, rebalances and calls the Handler, one call
// at a time. It stops when the context given to Join ends (no release: the
// leases expire, as after a crash), on Shutdown (graceful hand-over), or
// when its NATS connection is closed for good. While the connection is
// down it writes nothing (nats.go would send buffered writes late) and
// gives its leases up at their deadlines; on reconnect it renews at once
// and reads both buckets afresh.
// Owned, Holds, Members and Err read a copy under a lock and are safe from
// any goroutine.
package cluster
