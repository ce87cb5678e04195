package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Idle buckets are dropped (a bucket idle for its refill time is full, so
// nothing changes), and a set never holds more than its bound.
func TestLimiterSetEvictsIdleBuckets(t *testing.T) {
	s := newLimiterSet(10, 20) // refills in 2 s; idle after a minute
	now := time.Unix(1000, 0)
	for i := range 1000 {
		s.get(fmt.Sprint("10.0.0.", i), now)
	}
	if n := s.len(); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	s.get("10.0.1.1", now.Add(2*time.Minute))
	if n := s.len(); n != 1 {
		t.Fatalf("%d buckets after two idle minutes, want only the one just used", n)
	}

	s = newLimiterSet(10, 20)
	s.maxLen = 50
	for i := range 500 {
		s.get(fmt.Sprint("key-", i), now) // all active: over the bound, any goes
	}
	if n := s.len(); n > 50 {
		t.Fatalf("%d buckets, bound 50", n)
	}
	if newLimiterSet(-1, 0) != nil {
		t.Fatal("a negative rate is no limit (a nil set)")
	}
}

// The server bounds default to values that close idle and slow
// connections (the review found an idle keep-alive open at 40 s).
func TestServerConfigDefaults(t *testing.T) {
	var srv http.Server
	Config{}.ServerConfig(&srv)
	if srv.ReadTimeout != 30*time.Second || srv.ReadHeaderTimeout != 5*time.Second || srv.IdleTimeout != 30*time.Second || srv.MaxHeaderBytes != 32<<10 {
		t.Fatalf("defaults: read %s, header %s, idle %s, max header %d", srv.ReadTimeout, srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	c := Config{}.WithDefaults()
	if c.RatePerToken != 100 || c.BurstPerToken != 200 || c.RatePerIP != 50 || c.BurstPerIP != 100 {
		t.Fatalf("rate defaults %+v", c)
	}
}
