package actors

import (
	"context"
	"sync"
)

// background is a goroutine of the System that runs from Recover to
// Shutdown, at most once: the retention sweeper, the orphan check.
type background struct {
	mu      sync.Mutex
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// start runs fn in its goroutine, unless it runs already or stop was
// called. fn returns when ctx ends.
func (b *background) start(fn func(ctx context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() {
		defer close(b.done)
		fn(ctx)
	}()
}

// stop ends the goroutine and waits for it; it never starts after.
func (b *background) stop() {
	b.mu.Lock()
	b.stopped = true
	cancel, done := b.cancel, b.done
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
