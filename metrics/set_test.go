package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-run/weft/metrics"
)

func TestRegisterSetAllOrNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	taken := prometheus.NewCounter(prometheus.CounterOpts{Name: "taken_total", Help: "h"})
	if err := reg.Register(taken); err != nil {
		t.Fatal(err)
	}
	first := prometheus.NewCounter(prometheus.CounterOpts{Name: "first_total", Help: "h"})
	again := prometheus.NewCounter(prometheus.CounterOpts{Name: "taken_total", Help: "h"})
	if _, err := metrics.RegisterSet(reg, first, again); err == nil {
		t.Fatal("a set with a name already registered was registered")
	}
	// The failed set left nothing: first can be registered again.
	set, err := metrics.RegisterSet(reg, first)
	if err != nil {
		t.Fatalf("first after a failed set: %v", err)
	}
	set.Unregister()
	if _, err := metrics.RegisterSet(reg, first); err != nil {
		t.Fatalf("first after Unregister: %v", err)
	}
	if set, err := metrics.RegisterSet(nil, first); err != nil || set == nil {
		t.Fatalf("nil registry: %v, %v", set, err)
	}
}
