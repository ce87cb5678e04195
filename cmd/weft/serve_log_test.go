package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/weft-run/weft/internal/logbuf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsoleLogNoColorWhenNotTerminal: the default console format writes
// no ANSI escapes into a buffer or a pipe (colours are for terminals only).
func TestConsoleLogNoColorWhenNotTerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	var buf bytes.Buffer
	log, err := newLogger("debug", "console", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Warn().Str("keys_file", "/x/keys.json").Int("n", 3).Msg("hello")
	log.Error().Msg("bad")
	if out := buf.String(); !strings.Contains(out, "hello") || strings.Contains(out, "\x1b[") {
		t.Fatalf("buffer output %q: want the message and no ANSI escape", out)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	log, err = newLogger("info", "console", w)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str("addr", "127.0.0.1:1").Msg("weft serving")
	log.Warn().Msg("careful")
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("weft serving")) || bytes.Contains(out, []byte("\x1b[")) {
		t.Fatalf("pipe output %q: want the message and no ANSI escape", out)
	}
}

// TestServeLogsKeysFileEveryStart: each start of weft serve logs where the
// tokens are, and only the first (which creates the keys file) prints the
// token, on stdout; the log never holds it.
func TestServeLogsKeysFileEveryStart(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	var token string
	for start := 1; start <= 2; start++ {
		var stdout, stderr logbuf.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- serveCommand(&stdout, &stderr).ParseAndRun(ctx, []string{
				"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json", "--drain-timeout", "1s"})
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), "weft serving") {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("start %d: not serving after 10 s; stderr:\n%s", start, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("start %d: serve: %v", start, err)
		}

		var found int
		var listening string
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("start %d: log line %q: %v", start, line, err)
			}
			if rec["message"] == "weft serving" {
				listening, _ = rec["addr"].(string)
			}
			if rec["message"] == "tokens are in the keys file" {
				found++
				if rec["level"] != "info" || rec["keys_file"] != keys {
					t.Errorf("start %d: keys line %v: want level info, keys_file %s", start, rec, keys)
				}
			}
		}
		if found != 1 {
			t.Errorf("start %d: %d keys-file lines, want 1; stderr:\n%s", start, found, stderr.String())
		}
		if start == 1 {
			var kf struct {
				Keys []struct{ Token string } `json:"keys"`
			}
			b, err := os.ReadFile(keys)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &kf); err != nil || len(kf.Keys) == 0 || kf.Keys[0].Token == "" {
				t.Fatalf("keys file %s: %v %s", keys, err, b)
			}
			token = kf.Keys[0].Token
			if !strings.Contains(stdout.String(), token) {
				t.Errorf("first start: stdout %q lacks the created token", stdout.String())
			}
			// --addr 127.0.0.1:0: the banner names the port listened on.
			if console := "http://" + listening + "/console/"; strings.HasSuffix(listening, ":0") || !strings.Contains(stdout.String(), console) {
				t.Errorf("first start: stdout %q lacks %s", stdout.String(), console)
			}
		} else if stdout.String() != "" {
			t.Errorf("second start: stdout %q, want nothing (no banner)", stdout.String())
		}
		if strings.Contains(stderr.String(), token) {
			t.Errorf("start %d: the log holds the token", start)
		}
	}
}

func TestDialable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{":8080", "localhost:8080"},
		{"0.0.0.0:8080", "localhost:8080"},
		{"[::]:8080", "localhost:8080"},
		{"[::1]:8080", "[::1]:8080"},
		{"example.com:80", "example.com:80"},
		{"no-port", "no-port"},
	} {
		if got := dialable(tc.in); got != tc.want {
			t.Errorf("dialable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
