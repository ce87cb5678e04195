package ws

import "sync"

// admission enforces the connection limits: per server (every socket,
// authenticated or not) and per workspace (counted once authenticated).
type admission struct {
	maxTotal        int
	maxPerWorkspace int // 0: no limit

	mu          sync.Mutex
	total       int
	byWorkspace map[string]int
}

func newAdmission(cfg Config) *admission {
	return &admission{maxTotal: cfg.MaxConnections, maxPerWorkspace: cfg.MaxConnectionsPerWorkspace, byWorkspace: map[string]int{}}
}

// admit takes a server slot and, when the workspace is known, a workspace
// slot. It names the limit that refused, or "" when admitted.
func (a *admission) admit(workspace string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.total >= a.maxTotal {
		return "max_connections"
	}
	if workspace != "" && a.maxPerWorkspace > 0 && a.byWorkspace[workspace] >= a.maxPerWorkspace {
		return "max_connections_per_workspace"
	}
	a.total++
	if workspace != "" {
		a.byWorkspace[workspace]++
	}
	return ""
}

// admitWorkspace takes the workspace slot of a socket that authenticated
// in-band (its server slot is already held).
func (a *admission) admitWorkspace(workspace string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxPerWorkspace > 0 && a.byWorkspace[workspace] >= a.maxPerWorkspace {
		return false
	}
	a.byWorkspace[workspace]++
	return true
}

// leave gives back a socket's slots ("" workspace: never authenticated).
func (a *admission) leave(workspace string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if workspace == "" {
		return
	}
	if a.byWorkspace[workspace]--; a.byWorkspace[workspace] <= 0 {
		delete(a.byWorkspace, workspace)
	}
}
