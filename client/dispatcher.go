package client

import (
	"sync"
)

// ---- dispatcher ----

// dispatcher runs callbacks in order on one goroutine, so a slow callback
// never stalls the reader and callbacks may call the client.
type dispatcher struct {
	mu   sync.Mutex
	fs   []func()
	wake chan struct{}
}

func newDispatcher() *dispatcher { return &dispatcher{wake: make(chan struct{}, 1)} }

func (d *dispatcher) push(f func()) {
	d.mu.Lock()
	d.fs = append(d.fs, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			d.drain()
			return
		case <-d.wake:
			d.drain()
		}
	}
}

func (d *dispatcher) drain() {
	for {
		d.mu.Lock()
		fs := d.fs
		d.fs = nil
		d.mu.Unlock()
		if len(fs) == 0 {
			return
		}
		for _, f := range fs {
			f()
		}
	}
}
