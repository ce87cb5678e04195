package inproc

// NewReplaying returns a PubSub that also keeps every message published and
// queues a topic's history to each new subscriber, like GoChannel's
// Persistent mode. Only Watermill's conformance suite needs it: most of its
// tests publish before they subscribe.
func NewReplaying(cfg Config) *PubSub {
	p := New(cfg)
	p.replay = true
	p.history = map[string][]*envelope{}
	return p
}

// Quiescent reports whether no subscriber of p holds a queued message, owes
// an overflow marker or has a delivery goroutine: with no further Publish,
// nothing more will be delivered.
func (p *PubSub) Quiescent() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, subs := range p.topics {
		for _, s := range subs {
			s.mu.Lock()
			busy := s.running || s.queue.len() > 0 || s.overflowed
			s.mu.Unlock()
			if busy {
				return false
			}
		}
	}
	return true
}
