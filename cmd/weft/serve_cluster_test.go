package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/internal/logbuf"
	"github.com/weft-run/weft/internal/natstest"
)

func TestServeRefusesClusterFlagsThatCannotWork(t *testing.T) {
	for _, args := range [][]string{
		{"--node-id", "n1"},
		{"--nats-creds", "/tmp/x.creds"},
		{"--nats-replicas", "3"},
		{"--nats-url", "nats://127.0.0.1:4222", "--nats-replicas", "0"},
		{"--nats-url", "nats://127.0.0.1:4222", "--nats-replicas", "7"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := serveCommand(io.Discard, io.Discard).ParseAndRun(context.Background(),
				append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...))
			var usage usageError
			if !errors.As(err, &usage) {
				t.Fatalf("got %v, want a usage error", err)
			}
		})
	}
}

// weft serve --nats-url runs a cluster node: its id in server.info and in
// every line the server logs (once each: no repeated node or component
// field).
func TestServeJoinsACluster(t *testing.T) {
	srv := natstest.Server(t)
	dir := t.TempDir()
	var stderr logbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(io.Discard, &stderr).ParseAndRun(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", dir,
			"--log-format", "json", "--nats-url", srv.URL(), "--node-id", "node-1", "--nats-replicas", "1"})
	}()
	addr := servingAddr(t, &stderr, done)
	token := adminTokenOf(t, filepath.Join(dir, "keys.json"))
	if node := serverInfoNode(t, addr, token); node != "node-1" {
		t.Errorf("server.info node = %q, want node-1", node)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		// weft serve's own line before the server exists has no node.
		if rec["node"] != "node-1" && rec["message"] != "tokens are in the keys file" {
			t.Errorf("log line without node=node-1: %s", line)
		}
		for _, key := range []string{`"node":`, `"component":`} {
			if n := strings.Count(line, key); n > 1 {
				t.Errorf("%s appears %d times in %s", key, n, line)
			}
		}
	}
}

// serverInfoNode asks server.info over a socket and returns its node.
func serverInfoNode(t *testing.T, addr, token string) string {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/socket", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteJSON(map[string]string{"id": "1", "service": "server.info"}); err != nil {
		t.Fatal(err)
	}
	for {
		var f struct {
			ID       string
			Response struct{ Node string }
		}
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatal(err)
		}
		if f.ID == "1" {
			return f.Response.Node
		}
	}
}
