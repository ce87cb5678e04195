package ws

import "sync"

// admission enforces the connection limits: per server (every socket,
// authenticated or not), per remote address (all its sockets, and a
// tighter cap on those still waiting to authenticate in-band) and per
// workspace (counted once authenticated).
type admission struct {
	maxTotal        int
	maxPerWorkspace int // <= 0: no limit
	maxPerIP        int // <= 0: no limit
	maxPendingPerIP int // <= 0: no limit

	mu          sync.Mutex
	total       int
	byWorkspace map[string]int
	byIP        map[string]int
	pendingByIP map[string]int
}

func newAdmission(cfg Config) *admission {
	return &admission{
		maxTotal: cfg.MaxConnections, maxPerWorkspace: cfg.MaxConnectionsPerWorkspace,
		maxPerIP: cfg.MaxConnectionsPerIP, maxPendingPerIP: cfg.MaxUnauthenticatedPerIP,
		byWorkspace: map[string]int{}, byIP: map[string]int{}, pendingByIP: map[string]int{},
	}
}

// slot is what one socket holds: its address, and its workspace once
// authenticated ("" while in-band auth is pending).
type slot struct {
	ip        string // actors.AddressKey of the peer
	workspace string
}

// admit takes the slots of a new socket. It names the limit that refused,
// or "" when admitted.
func (a *admission) admit(s slot) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= a.maxTotal:
		return "max_connections"
	case a.maxPerIP > 0 && a.byIP[s.ip] >= a.maxPerIP:
		return "max_connections_per_ip"
	case s.workspace == "" && a.maxPendingPerIP > 0 && a.pendingByIP[s.ip] >= a.maxPendingPerIP:
		return "max_unauthenticated_per_ip"
	case s.workspace != "" && a.maxPerWorkspace > 0 && a.byWorkspace[s.workspace] >= a.maxPerWorkspace:
		return "max_connections_per_workspace"
	}
	a.total++
	a.byIP[s.ip]++
	if s.workspace == "" {
		a.pendingByIP[s.ip]++
	} else {
		a.byWorkspace[s.workspace]++
	}
	return ""
}

// admitWorkspace moves a socket that authenticated in-band from pending to
// its workspace (its server and address slots are already held). On false
// nothing changed: the socket is still pending.
func (a *admission) admitWorkspace(s *slot, workspace string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxPerWorkspace > 0 && a.byWorkspace[workspace] >= a.maxPerWorkspace {
		return false
	}
	a.byWorkspace[workspace]++
	decrement(a.pendingByIP, s.ip)
	s.workspace = workspace
	return true
}

// leave gives back a socket's slots.
func (a *admission) leave(s slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	decrement(a.byIP, s.ip)
	if s.workspace == "" {
		decrement(a.pendingByIP, s.ip)
		return
	}
	decrement(a.byWorkspace, s.workspace)
}

func decrement(m map[string]int, key string) {
	if m[key]--; m[key] <= 0 {
		delete(m, key)
	}
}
