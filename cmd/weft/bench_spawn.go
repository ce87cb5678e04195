package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/weft-run/weft/load"
)

// benchServer is a server process a bench command started on loopback:
// weft (`weft serve` on a temporary data dir, limits lifted) or the
// reference broadcast server (`weft bench refserver`). Being its own
// process, its CPU time is measured apart from the load client's.
type benchServer struct {
	name   string
	target load.Target
	stop   func()
}

// startWeft starts `weft serve` as load.StartLocal does (temporary data
// dir, --max-connections 200000, no per-connection rate limit).
func startWeft(ctx context.Context, bin string) (*benchServer, error) {
	srv, err := load.StartLocal(ctx, bin)
	if err != nil {
		return nil, err
	}
	return &benchServer{name: "weft", target: srv.Target, stop: srv.Stop}, nil
}

// startRefserver starts `weft bench refserver --addr 127.0.0.1:0` and
// reads its URL from the line it prints.
func startRefserver(ctx context.Context, bin, mode string) (*benchServer, error) {
	cmd := exec.Command(bin, "bench", "refserver", "--addr", "127.0.0.1:0", "--mode", mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s bench refserver: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, refserverBanner) {
			stop()
			return nil, fmt.Errorf("bench refserver printed %q, not its address", line)
		}
		url := strings.TrimPrefix(line, refserverBanner)
		return &benchServer{
			name:   "reference (" + mode + ")",
			target: load.Target{URL: url, Token: "refserver", PID: cmd.Process.Pid},
			stop:   stop,
		}, nil
	case <-done:
		return nil, errors.New("bench refserver exited before printing its address")
	case <-time.After(15 * time.Second):
		stop()
		return nil, errors.New("bench refserver: no address after 15s")
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}
