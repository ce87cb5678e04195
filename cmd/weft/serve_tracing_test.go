package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/internal/logbuf"
)

// otlpReceiver is a collector's OTLP/HTTP traces endpoint on loopback that
// keeps what it is sent.
type otlpReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	paths  []string
	bodies [][]byte
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
	}))
	t.Cleanup(r.Close)
	return r
}

// received returns the paths posted to and every body, joined.
func (r *otlpReceiver) received() ([]string, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...), bytes.Join(r.bodies, nil)
}

// serveEchoOnce runs weft serve with extra flags, runs one echo execution
// to its end over HTTP, then stops the server the way a signal does.
func serveEchoOnce(t *testing.T, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	var stdout, stderr logbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json", "--drain-timeout", "1s"}, extra...)
	go func() { done <- serveCommand(&stdout, &stderr).ParseAndRun(ctx, args) }()
	addr := servingAddr(t, &stderr, done)
	token := adminTokenOf(t, filepath.Join(dir, "keys.json"))
	id := httpJSON(t, "POST", "http://"+addr+"/api/v1/workflows/echo/executions", token, `{"parameters":{"hello":"trace"}}`)["execution_id"]
	deadline := time.Now().Add(10 * time.Second)
	for httpJSON(t, "GET", "http://"+addr+"/api/v1/executions/"+id.(string), token, "")["status"] != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("echo %v did not complete", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
}

// servingAddr waits for the "weft serving" log line and returns its addr.
func servingAddr(t *testing.T, stderr *logbuf.Buffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "weft serving" {
				return rec.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before serving: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 10 s:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func adminTokenOf(t *testing.T, keysFile string) string {
	t.Helper()
	raw, err := os.ReadFile(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	var kf struct {
		Keys []struct{ Token string } `json:"keys"`
	}
	if err := json.Unmarshal(raw, &kf); err != nil || len(kf.Keys) == 0 {
		t.Fatalf("keys file %s: %v", raw, err)
	}
	return kf.Keys[0].Token
}

func httpJSON(t *testing.T, method, url, token, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s %s: HTTP %d, %v", method, url, resp.StatusCode, err)
	}
	return out
}

// weft serve exports the spans of an execution to an OTLP/HTTP collector
// named by --otlp-endpoint or by the standard variables, and flushes them
// when it stops; with neither it sends nothing.
func TestServeExportsTraces(t *testing.T) {
	cases := []struct {
		name  string
		flags func(url string) []string
		env   func(url string) map[string]string
		want  bool
	}{
		{"flag", func(url string) []string { return []string{"--otlp-endpoint", url} }, nil, true},
		{"flag with a prefix", func(url string) []string { return []string{"--otlp-endpoint", url + "/otel/"} }, nil, true},
		{"WEFT_OTLP_ENDPOINT", nil, func(url string) map[string]string { return map[string]string{"WEFT_OTLP_ENDPOINT": url} }, true},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", nil, func(url string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url}
		}, true},
		{"OTEL_SDK_DISABLED", func(url string) []string { return []string{"--otlp-endpoint", url} }, func(string) map[string]string {
			return map[string]string{"OTEL_SDK_DISABLED": "true"}
		}, false},
		{"nothing", nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recv := newOTLPReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
			if tc.env != nil {
				for k, v := range tc.env(recv.URL) {
					t.Setenv(k, v)
				}
			}
			var flags []string
			if tc.flags != nil {
				flags = tc.flags(recv.URL)
			}
			serveEchoOnce(t, flags...)
			paths, bodies := recv.received()
			if !tc.want {
				if len(paths) != 0 {
					t.Fatalf("traces sent to %v with tracing off", paths)
				}
				return
			}
			wantPath := "/v1/traces"
			if strings.Contains(tc.name, "prefix") {
				wantPath = "/otel/v1/traces"
			}
			if len(paths) == 0 || paths[0] != wantPath {
				t.Fatalf("posted to %v, want %s", paths, wantPath)
			}
			for _, s := range []string{"execution echo", "task echo", "weft.execution.id", "service.name", "weft"} {
				if !bytes.Contains(bodies, []byte(s)) {
					t.Fatalf("the exported traces lack %q", s)
				}
			}
		})
	}
}

func TestServeRefusesABadOTLPEndpoint(t *testing.T) {
	for _, endpoint := range []string{"127.0.0.1:4318", "ftp://collector:21", "http://", "http://h:4318/?q=1", "http://u:p@h:4318"} {
		err := serveCommand(io.Discard, io.Discard).ParseAndRun(context.Background(), []string{
			"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--otlp-endpoint", endpoint})
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--otlp-endpoint") {
			t.Errorf("--otlp-endpoint %q: %v, want a usage error naming the flag", endpoint, err)
		}
	}
}
