package server

import "github.com/weft-run/weft/events"

// Bus returns the event bus: embedding applications can follow execution
// topics and the lifecycle topics (events.LifecycleTopics).
func (s *Server) Bus() *events.Bus { return s.bus }
