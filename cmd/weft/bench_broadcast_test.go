package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/load"
)

// TestBenchBroadcastCompare runs `weft bench broadcast --compare` end to
// end: a reference server and a weft server, each a child process whose
// CPU is measured, loaded one after the other.
func TestBenchBroadcastCompare(t *testing.T) {
	bin := weftBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "bench", "broadcast", "--compare", "--members", "20", "--broadcasts", "5",
		"--rate", "50", "--message-bytes", "100", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var out struct {
		Runs []struct {
			Server string       `json:"server"`
			Report *load.Report `json:"report"`
			Err    string       `json:"error"`
		} `json:"runs"`
		Ratio map[string]float64 `json:"weft_over_reference"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(out.Runs) != 2 || !strings.HasPrefix(out.Runs[0].Server, "reference") || out.Runs[1].Server != "weft" {
		t.Fatalf("runs %+v", out.Runs)
	}
	for _, r := range out.Runs {
		if r.Report == nil || r.Report.Errors != 0 || r.Report.Figures["deliveries"] != 100 {
			t.Fatalf("%s: %+v (%s)", r.Server, r.Report, r.Err)
		}
		if c := r.Report.ServerCPU; c == nil || c.PID <= 0 || r.Report.ClientCPU == nil {
			t.Fatalf("%s: no server or client CPU: %+v", r.Server, r.Report)
		}
	}
	if _, ok := out.Ratio["p99"]; !ok {
		t.Fatalf("no ratios: %v", out.Ratio)
	}
}

// TestBenchRefserverAddress checks that `weft bench refserver` prints the
// address it listens on and refuses a non-loopback one.
func TestBenchRefserverAddress(t *testing.T) {
	bin := weftBinary(t)
	cmd := exec.Command(bin, "bench", "refserver", "--addr", "127.0.0.1:0", "--mode", "writer")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "refserver listening on http://127.0.0.1:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp, err := http.Get(strings.TrimSpace(strings.TrimPrefix(line, "refserver listening on ")) + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	out, err := exec.Command(bin, "bench", "refserver", "--addr", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a loopback address") {
		t.Fatalf("non-loopback: %v %s", err, out)
	}
}
