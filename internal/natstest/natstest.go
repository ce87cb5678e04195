// Package natstest starts NATS JetStream servers inside a test process:
// one server, or a cluster of servers routed to each other on loopback.
// Nothing is installed or left behind: nats-server runs as a library,
// ports are picked free at start, store directories are the test's
// TempDir, and every server is shut down by the test's Cleanup.
//
// A node can be stopped and started again (Shutdown, Restart) on the same
// ports and store directory, so a test can take a server away to force a
// leader change or an outage, and bring it back.
//
// Set NATSTEST_LOG=1 to see the servers' logs on stderr.
//
// # Concurrency
//
// Server and Cluster must be called from the test goroutine (they may call
// t.Fatal). A Node's URL is safe from any goroutine; Shutdown and Restart
// of one node must not run concurrently with each other.
package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startTimeout bounds how long a server (or a cluster's JetStream meta
// group) may take to come up before the test fails.
const startTimeout = 30 * time.Second

// startAttempts is how many times a cluster is started on fresh ports: the
// ports are picked free, then bound by the servers a moment later, and
// another process may take one in between.
const startAttempts = 3

// Node is one embedded nats-server with JetStream.
type Node struct {
	name string

	mu   sync.Mutex
	opts server.Options // ports fixed after the first start
	srv  *server.Server
}

// Option changes a server's options before it starts (for example
// SyncAlways).
type Option func(*server.Options)

// SyncAlways makes the server fsync every JetStream write before it
// acknowledges it (nats-server's `sync_interval: always`).
func SyncAlways(o *server.Options) { o.SyncAlways = true }

// Server starts one JetStream server on 127.0.0.1 with a random port and a
// store directory under t.TempDir, and shuts it down at the end of the
// test.
func Server(t testing.TB, opts ...Option) *Node {
	t.Helper()
	n := &Node{name: "natstest-1", opts: baseOptions("natstest-1", t.TempDir())}
	for _, o := range opts {
		o(&n.opts)
	}
	t.Cleanup(n.Shutdown)
	if err := n.start(); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	waitJetStream(t, []*Node{n})
	return n
}

// Cluster starts size JetStream servers routed to each other on loopback
// (one cluster, every server a JetStream peer) and waits until the
// JetStream meta group has a leader and every peer is current. They are
// shut down at the end of the test. Clients may connect to any of them;
// URLs joins their addresses for a client that should fail over.
func Cluster(t testing.TB, size int, opts ...Option) []*Node {
	t.Helper()
	if size < 1 {
		t.Fatalf("natstest: cluster of %d servers", size)
	}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		nodes, err := startCluster(t, size, opts)
		if err == nil {
			waitJetStream(t, nodes)
			return nodes
		}
		lastErr = err
	}
	t.Fatalf("natstest: cluster of %d: %v", size, lastErr)
	return nil
}

func startCluster(t testing.TB, size int, opts []Option) ([]*Node, error) {
	routePorts, err := freePorts(size)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("natstest-%d", time.Now().UnixNano()%100000)
	nodes := make([]*Node, size)
	for i := range nodes {
		n := &Node{name: fmt.Sprintf("%s-%d", name, i+1)}
		n.opts = baseOptions(n.name, t.TempDir())
		n.opts.Cluster = server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: routePorts[i]}
		for j, p := range routePorts {
			if j != i {
				n.opts.Routes = append(n.opts.Routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
			}
		}
		for _, o := range opts {
			o(&n.opts)
		}
		nodes[i] = n
	}
	for _, n := range nodes {
		t.Cleanup(n.Shutdown)
		if err := n.start(); err != nil {
			for _, m := range nodes {
				m.Shutdown()
			}
			return nil, err
		}
	}
	return nodes, nil
}

func baseOptions(name, dir string) server.Options {
	return server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      os.Getenv("NATSTEST_LOG") == "",
		// The store dirs are small test dirs; without limits JetStream
		// reserves a share of the whole disk and memory.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  4 << 30,
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start runs the server with n.opts and waits until it accepts clients,
// then fixes its client port so a restart comes back at the same URL.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	opts := n.opts // NewServer keeps and changes the struct it is given
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("server %s: %w", n.name, err)
	}
	if !opts.NoLog {
		srv.ConfigureLogger()
	}
	go srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("server %s not ready for connections within %v", n.name, startTimeout)
	}
	n.srv = srv
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port
	return nil
}

// Name is the server's name (unique within a cluster).
func (n *Node) Name() string { return n.name }

// URL is the server's client URL, nats://127.0.0.1:port. It stays the same
// across Restart.
func (n *Node) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.opts.Port))
}

// Server is the running nats-server (nil while shut down), for tests that
// look at its state (JetStreamIsLeader, say).
func (n *Node) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Shutdown stops the server and waits until it has. Its store directory
// stays, for Restart. Calling it on a stopped node does nothing.
func (n *Node) Shutdown() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart starts a stopped node again on the same ports and store
// directory, and waits until it accepts clients and its JetStream is
// enabled. In a cluster, the node then catches up with its peers on its
// own: wait for what the test needs (a stream's replicas) through a
// client.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Shutdown()
	if err := n.start(); err != nil {
		t.Fatalf("natstest: restart: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for !n.Server().JetStreamEnabled() {
		if time.Now().After(deadline) {
			t.Fatalf("natstest: restart %s: JetStream not enabled within %v", n.name, startTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URLs joins the nodes' URLs with commas, the form nats.Connect and weft's
// --nats-url take.
func URLs(nodes []*Node) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Connect opens a client connection to urls (comma-separated) that retries
// forever while servers are down, and closes it at the end of the test.
func Connect(t testing.TB, urls string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{
		nats.Name(t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
	}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitJetStream waits until the nodes' JetStream answers API requests: for
// a cluster, until the meta group has elected a leader that knows every
// peer and every peer is current.
func waitJetStream(t testing.TB, nodes []*Node) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !jetStreamReady(nodes) {
		if time.Now().After(deadline) {
			t.Fatalf("natstest: JetStream of %d server(s) not ready within %v", len(nodes), startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The servers agree; check that a client gets an answer too.
	nc := Connect(t, URLs(nodes))
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: JetStream account info: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jetStreamReady(nodes []*Node) bool {
	if len(nodes) == 1 {
		srv := nodes[0].Server()
		return srv != nil && srv.JetStreamEnabled()
	}
	var leader *server.Server
	for _, n := range nodes {
		srv := n.Server()
		if srv == nil || !srv.JetStreamEnabled() || !srv.JetStreamIsCurrent() {
			return false
		}
		if srv.JetStreamIsLeader() {
			leader = srv
		}
	}
	return leader != nil && len(leader.JetStreamClusterPeers()) == len(nodes)
}
