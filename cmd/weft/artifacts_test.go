package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestArtifactsCLI: `weft artifacts put` uploads a file (name and type
// from the file), `ls` lists it (table and --json), `get` writes it back
// byte for byte (stdout or -o), `rm` deletes it, and a second `get` fails
// with ARTIFACT_NOT_FOUND (exit 1).
func TestArtifactsCLI(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "report.txt")
	data := bytes.Repeat([]byte("weft artifacts, line by line\n"), 40000) // ~1.1 MB
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(mustRun(t, s, "artifacts", "put", src))
	if !strings.HasPrefix(id, "art_") {
		t.Fatalf("put printed %q", id)
	}
	other := strings.TrimSpace(mustRun(t, s, "artifacts", "put", src, "--name", "copy", "--content-type", "application/x-copy"))

	table := mustRun(t, s, "artifacts", "ls")
	if !strings.Contains(table, id) || !strings.Contains(table, "report.txt") || !strings.Contains(table, "text/plain") ||
		!strings.Contains(table, other) || !strings.Contains(table, "application/x-copy") {
		t.Errorf("ls:\n%s", table)
	}
	var list []struct {
		ArtifactID string `json:"artifact_id"`
		Name       string `json:"name"`
		Size       int64  `json:"size"`
		SHA256     string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, s, "artifacts", "ls", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Size != int64(len(data)) || list[0].SHA256 != list[1].SHA256 {
		t.Errorf("ls --json: %+v", list)
	}

	out := filepath.Join(dir, "back.txt")
	mustRun(t, s, "artifacts", "get", id, "-o", out)
	if back, _ := os.ReadFile(out); !bytes.Equal(back, data) {
		t.Errorf("get -o: %d bytes, want %d", len(back), len(data))
	}
	if got := mustRun(t, s, "artifacts", "get", other); got != string(data) {
		t.Errorf("get to stdout: %d bytes", len(got))
	}

	mustRun(t, s, "artifacts", "rm", id)
	code, _, errOut := s.weft(t, "artifacts", "get", id, "-o", filepath.Join(dir, "gone.txt"))
	if code != exitFailed || !strings.Contains(errOut, "ARTIFACT_NOT_FOUND") {
		t.Errorf("get after rm: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone.txt")); !os.IsNotExist(err) {
		t.Errorf("a failed get left its file: %v", err)
	}
	if code, _, _ := s.weft(t, "artifacts", "put"); code != exitUsage {
		t.Errorf("put without a file: exit %d", code)
	}
}

// TestArtifactsCLIMaxArtifactBytes: `weft serve --max-artifact-bytes`
// bounds uploads: one byte over is refused with WS_MESSAGE_TOO_LARGE, the
// bound itself is taken.
func TestArtifactsCLIMaxArtifactBytes(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, []byte(opsKeys), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveOut, serveErr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data-dir", dir, "--keys", keys, "--log-level", "error",
			"--max-artifact-bytes", "4096"}, &serveOut, &serveErr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("weft serve did not stop")
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("weft serve not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Setenv("WEFT_SERVER", "http://"+addr)
	t.Setenv("WEFT_TOKEN", "tok-ops")
	for size, want := range map[int]int{4096: exitOK, 4097: exitFailed} {
		file := filepath.Join(t.TempDir(), "blob.bin")
		if err := os.WriteFile(file, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := weftCmd(t, "artifacts", "put", file)
		if code != want || (want == exitFailed && !strings.Contains(errOut, "WS_MESSAGE_TOO_LARGE")) {
			t.Errorf("put of %d bytes: exit %d, %s", size, code, errOut)
		}
	}
}
