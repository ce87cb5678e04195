package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Target is the server under load.
type Target struct {
	URL   string // http://127.0.0.1:8080
	Token string
	PID   int // the server's process id when known (for its RSS); 0: read /metrics
	// Rate is the frames per second the server lets one connection send
	// (server.info's messages_per_second); scenarios keep each socket
	// under RateShare of it. 0: no pacing (a server the tool started,
	// its limits lifted).
	Rate float64
	// Metadata is added to the metadata of every execution a scenario
	// starts, so that its executions can be found and removed.
	Metadata map[string]string
	// UserAgent is sent on every socket upgrade.
	UserAgent string
}

// ErrOverRate refuses a scenario whose own rate flag would take one socket
// over the server's limit.
var ErrOverRate = errors.New("over the server's rate limit")

// RateShare is the part of Target.Rate a socket of the load tool uses:
// the rest absorbs bursts and timer jitter.
const RateShare = 0.8

// interval is the least time between two requests of one socket (0: none).
func (t Target) interval() time.Duration {
	if t.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / (t.Rate * RateShare))
}

// CheckLoopback refuses any target that is not on this machine's loopback
// interface: weft's load tool never sends traffic elsewhere.
func (t Target) CheckLoopback() error {
	u, err := url.Parse(t.URL)
	if err != nil {
		return fmt.Errorf("target %q: %w", t.URL, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not a loopback address: the load tool only targets this machine", t.URL)
	}
	return nil
}

func (t Target) socketURL() string {
	return "ws" + strings.TrimPrefix(t.URL, "http") + "/api/v1/socket"
}

// LocalServer is a `weft serve` started by the load tool on 127.0.0.1 with
// a temporary data dir.
type LocalServer struct {
	Target
	cmd *exec.Cmd
	dir string
}

// StartLocal runs bin (a weft binary) as `weft serve` on a free loopback
// port and waits until it is ready.
func StartLocal(ctx context.Context, bin string, extraArgs ...string) (*LocalServer, error) {
	dir, err := os.MkdirTemp("", "weft-bench-")
	if err != nil {
		return nil, err
	}
	const token = "bench-admin-token"
	keys := filepath.Join(dir, "keys.json")
	body := `{"keys":[{"token":"` + token + `","identity":"bench","workspace":"bench","scopes":["admin"]}]}`
	if err := os.WriteFile(keys, []byte(body), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	args := append([]string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--keys", keys,
		"--log-level", "error", "--log-format", "json", "--max-connections", "200000",
		// The load tool sends faster than one client should, from one
		// address, and leaves many executions behind: lift the rate
		// limits and the quotas meant for apps.
		"--messages-per-second", "1000000", "--max-connections-per-ip", "0",
		"--max-executions-per-workspace", "0", "--http-rate-per-token", "0", "--http-rate-per-ip", "0"}, extraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &LocalServer{Target: Target{URL: "http://" + addr, Token: token, PID: cmd.Process.Pid}, cmd: cmd, dir: dir}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *LocalServer) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("local weft server not ready after 15s")
}

// Stop ends the local server and removes its data.
func (s *LocalServer) Stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(s.dir)
}

// serverRSS returns the server's resident memory in bytes: from /proc when
// its pid is known, else from its /metrics (process_resident_memory_bytes).
func (t Target) serverRSS() (int64, error) {
	if t.PID > 0 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.PID))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024, err
			}
		}
		return 0, errors.New("no VmRSS in /proc status")
	}
	resp, err := http.Get(t.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "process_resident_memory_bytes ") {
			v, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return int64(v), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}
