package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectionsOptions configure the connections scenario.
type ConnectionsOptions struct {
	N        int           // sockets to open
	Parallel int           // dials in flight at once (default 64)
	Hold     time.Duration // how long to keep them open before measuring (default 3s)
}

// Connections opens N authenticated idle sockets and reports the connect
// rate and the server's resident memory per connection.
func Connections(ctx context.Context, t Target, o ConnectionsOptions, progress Progress) (Report, error) {
	if err := t.CheckLoopback(); err != nil {
		return Report{}, err
	}
	if o.Parallel <= 0 {
		o.Parallel = 64
	}
	if o.Hold <= 0 {
		o.Hold = 3 * time.Second
	}
	before, err := t.serverRSS()
	if err != nil {
		return Report{}, fmt.Errorf("server memory: %w", err)
	}
	var (
		conns    = make([]*conn, o.N)
		opened   atomic.Int64
		errs     atomic.Int64
		kinds    tally
		dialTime = newLatency()
		wg       sync.WaitGroup
		sem      = make(chan struct{}, o.Parallel)
	)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	began := time.Now()
	stop := tick(progress, func() string { return fmt.Sprintf("opened %d of %d  errors %d", opened.Load(), o.N, errs.Load()) })
	for i := range o.N {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			c, err := dial(t)
			if err != nil {
				errs.Add(1)
				kinds.add(err)
				return
			}
			dialTime.record(time.Since(start))
			conns[i] = c
			opened.Add(1)
		}()
	}
	wg.Wait()
	connectTime := time.Since(began)
	stop()
	progress.say("holding %d connections for %s", opened.Load(), o.Hold)
	select {
	case <-time.After(o.Hold):
	case <-ctx.Done():
	}
	after, err := t.serverRSS()
	if err != nil {
		return Report{}, fmt.Errorf("server memory: %w", err)
	}
	n := float64(max(opened.Load(), 1))
	return Report{
		Scenario: "connections",
		Params:   map[string]any{"n": o.N, "parallel": o.Parallel, "hold": o.Hold.String()},
		Elapsed:  time.Since(began),
		Figures: map[string]float64{
			"connections_opened":    float64(opened.Load()),
			"connects_per_second":   float64(opened.Load()) / connectTime.Seconds(),
			"server_rss_before_mib": float64(before) / (1 << 20),
			"server_rss_after_mib":  float64(after) / (1 << 20),
			"server_bytes_per_conn": float64(after-before) / n,
			"server_kib_per_conn":   float64(after-before) / n / 1024,
		},
		Latencies:  map[string]Summary{"connect_and_auth": dialTime.summary()},
		Errors:     errs.Load(),
		ErrorKinds: kinds.counts(),
	}, nil
}
