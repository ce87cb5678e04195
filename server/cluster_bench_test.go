package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// BenchmarkClusterExecutions compares, in one run on one machine, bbolt on
// a single node, one node on JetStream R1 and three nodes on a 3-server
// JetStream cluster R3: durable steps/s, and start→completed p50/p99 of
// executions of 10 steps each, 64 at a time spread over the nodes.
func BenchmarkClusterExecutions(b *testing.B) {
	const steps, parallel = 10, 64
	register := func(reg *workflows.Registry) {
		workflows.Register(reg, "bench-steps", func(ctx workflows.Context, in benchIn) (int, error) {
			for i := range in.Steps {
				if _, err := workflows.Task(ctx, "step", func(context.Context) (int, error) { return i, nil }); err != nil {
					return 0, err
				}
			}
			return in.Steps, nil
		})
	}
	setups := []struct {
		name  string
		nodes func(b *testing.B) []*testServer
	}{
		{"bbolt-1-node", func(b *testing.B) []*testServer { return []*testServer{bootServer(b, "", nil, register)} }},
		{"jetstream-R1-1-node", func(b *testing.B) []*testServer {
			ns := natstest.Server(b)
			return []*testServer{bootServer(b, "", clusterCfg("n1", ns.URL(), 1), register)}
		}},
		{"jetstream-R3-3-nodes", func(b *testing.B) []*testServer {
			ns := natstest.Cluster(b, 3)
			return []*testServer{
				bootServer(b, "", clusterCfg("n1", ns[0].URL(), 3), register),
				bootServer(b, "", clusterCfg("n2", ns[1].URL(), 3), register),
				bootServer(b, "", clusterCfg("n3", ns[2].URL(), 3), register),
			}
		}},
	}
	for _, setup := range setups {
		b.Run(setup.name, func(b *testing.B) {
			nodes := setup.nodes(b)
			waitPartitions(b, nodes)
			who := weft.Identity{Name: "bench", Workspace: "bench", Scopes: []weft.Scope{weft.ScopeAdmin}}
			params, _ := json.Marshal(benchIn{Steps: steps})
			execs := max(b.N/steps, parallel)
			var mu sync.Mutex
			var lat []time.Duration
			work := make(chan int)
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range parallel {
				ts := nodes[w%len(nodes)]
				wg.Go(func() {
					for range work {
						start := time.Now()
						runToEnd(b, ts, context.Background(), who, params)
						mu.Lock()
						lat = append(lat, time.Since(start))
						mu.Unlock()
					}
				})
			}
			for i := range execs {
				work <- i
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(execs*steps)/b.Elapsed().Seconds(), "steps/s")
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms/exec")
			b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms/exec")
		})
	}
}

func clusterCfg(id, url string, replicas int) func(*server.Config) {
	return func(cfg *server.Config) {
		cfg.Cluster = server.ClusterConfig{NATSURLs: url, NodeID: id, Replicas: replicas}
		cfg.NoSync = true // bbolt holds nothing of the executions here
	}
}

// waitPartitions waits until every node can start executions (holds a
// partition): a start answers UNAVAILABLE before.
func waitPartitions(b *testing.B, nodes []*testServer) {
	deadline := time.Now().Add(30 * time.Second)
	for _, ts := range nodes {
		for {
			who := weft.Identity{Name: "bench", Workspace: "bench", Scopes: []weft.Scope{weft.ScopeAdmin}}
			params, _ := json.Marshal(benchIn{Steps: 1})
			if _, err := ts.Service().Start(context.Background(), who, actors.StartRequest{Name: "bench-steps", Parameters: params}); err == nil {
				break
			} else if time.Now().After(deadline) {
				b.Fatal(fmt.Errorf("node not ready: %w", err))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
