package metrics

import "github.com/prometheus/client_golang/prometheus"

// Set is a group of collectors registered together, all or none, and
// removed together: for a component that may start again in the same
// process (a cluster node in tests, or in an embedding application) and
// must then register its collectors afresh.
type Set struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
}

// RegisterSet registers cs on reg. If one fails, those registered before
// it are removed again and the error returned. A nil reg registers nothing
// (the component counts, nobody exports it).
func RegisterSet(reg prometheus.Registerer, cs ...prometheus.Collector) (*Set, error) {
	if reg == nil {
		return &Set{}, nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return &Set{reg: reg, collectors: cs}, nil
}

// Unregister removes the set's collectors from their registry.
func (s *Set) Unregister() {
	if s == nil || s.reg == nil {
		return
	}
	for _, c := range s.collectors {
		s.reg.Unregister(c)
	}
}
