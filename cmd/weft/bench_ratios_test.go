package main

import (
	"testing"

	"github.com/weft-run/weft/load"
)

func TestBenchRatios(t *testing.T) {
	run := func(server string, p99, pd float64) broadcastRun {
		r := broadcastRun{Server: server}
		r.Report = newTestReport(p99, pd)
		return r
	}
	got := ratios([]broadcastRun{run("reference (inline)", 10, 2), run("weft", 30, 5), run("weft", 20, 4), run("reference (inline)", 12, 3), run("weft", 25, 6)})
	// weft medians: p99 25, µs 5; reference medians (2 runs: the mean of both): 11, 2.5.
	if got["p99"] != 25.0/11 || got["us_per_delivery"] != 5.0/2.5 {
		t.Fatalf("%v", got)
	}
	if ratios([]broadcastRun{run("weft", 1, 1)}) != nil {
		t.Fatal("ratios without a reference")
	}
}

func newTestReport(p99, perDelivery float64) *load.Report {
	return &load.Report{
		Latencies: map[string]load.Summary{"broadcast_to_last_member": {P50: p99 / 2, P99: p99}},
		ServerCPU: &load.CPU{Seconds: perDelivery, MicrosPerDelivery: perDelivery},
	}
}
