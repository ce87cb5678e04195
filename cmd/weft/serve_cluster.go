package main

import (
	"context"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/server"
)

// Cluster mode for weft serve (PROTOCOL.md section 11, README "Cluster
// mode"): --nats-url turns it on; --nats-creds, --node-id and
// --nats-replicas go with it. The flags reach server.Config.Cluster
// through the context (clusterConfigFrom).

// maxReplicas is JetStream's own bound on a stream's replicas.
const maxReplicas = 5

// withCluster adds the cluster flags to cmd and runs its Exec with the
// cluster configuration they give in the context.
func withCluster(cmd *ffcli.Command) *ffcli.Command {
	var c server.ClusterConfig
	fs := cmd.FlagSet
	fs.StringVar(&c.NATSURLs, "nats-url", "",
		"comma-separated NATS URLs, e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222: run as one node of a cluster (empty: a single node)")
	fs.StringVar(&c.CredsFile, "nats-creds", "", "NATS credentials file (cluster mode)")
	fs.StringVar(&c.NodeID, "node-id", "",
		"this node's id, unique in the cluster; shown in server.info, logs and metrics (default: host name and --addr's port)")
	fs.IntVar(&c.Replicas, "nats-replicas", 1,
		"replicas of weft's JetStream streams and buckets, 1 to 5 (3 in production); used by the node that creates them")
	exec := cmd.Exec
	cmd.Exec = func(ctx context.Context, args []string) error {
		if err := checkClusterFlags(c); err != nil {
			return err
		}
		return exec(context.WithValue(ctx, clusterConfigKey{}, c), args)
	}
	return cmd
}

// checkClusterFlags refuses cluster flags that cannot work (exit 2).
func checkClusterFlags(c server.ClusterConfig) error {
	if c.NATSURLs == "" {
		switch {
		case c.CredsFile != "":
			return usageError{"--nats-creds needs --nats-url"}
		case c.NodeID != "":
			return usageError{"--node-id needs --nats-url (a single node has no id)"}
		case c.Replicas != 1:
			return usageError{"--nats-replicas needs --nats-url"}
		}
	}
	if c.Replicas < 1 || c.Replicas > maxReplicas {
		return usageError{fmt.Sprintf("--nats-replicas %d: want 1 to %d", c.Replicas, maxReplicas)}
	}
	return nil
}

type clusterConfigKey struct{}

// clusterConfigFrom is the cluster configuration withCluster put in ctx
// (zero: a single node).
func clusterConfigFrom(ctx context.Context) server.ClusterConfig {
	c, _ := ctx.Value(clusterConfigKey{}).(server.ClusterConfig)
	return c
}
