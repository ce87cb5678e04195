package ws

import "slices"

// unsubscribeService is answered by the connection actor itself (it
// cancels another request of the same connection), not by a handler.
const unsubscribeService = "execution.unsubscribe"

// Services lists, sorted, every service name a request frame may carry:
// the dispatch table and execution.unsubscribe. It is read-only (a fresh
// slice each call), for documentation and for tests that must cover every
// service the socket serves.
func Services() []string {
	out := make([]string, 0, len(services)+1)
	for name := range services {
		out = append(out, name)
	}
	if !slices.Contains(out, unsubscribeService) {
		out = append(out, unsubscribeService)
	}
	slices.Sort(out)
	return out
}
