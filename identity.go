package weft

import "slices"

// Scope is a permission a token carries. Services name the scope they need;
// anything not granted is denied.
type Scope string

// Scopes of PROTOCOL.md section 2.
const (
	ScopeWorkflowsRead    Scope = "workflows:read"
	ScopeWorkflowsStart   Scope = "workflows:start"
	ScopeExecutionsRead   Scope = "executions:read"
	ScopeExecutionsWrite  Scope = "executions:write"
	ScopeRoomsJoin        Scope = "rooms:join"
	ScopeRoomsBroadcast   Scope = "rooms:broadcast"
	ScopeConnectionsRead  Scope = "connections:read"
	ScopeConnectionsAdmin Scope = "connections:admin"
	ScopeSchedulesRead    Scope = "schedules:read"
	ScopeSchedulesWrite   Scope = "schedules:write"
	ScopeArtifactsWrite   Scope = "artifacts:write"
	ScopeAuditRead        Scope = "audit:read"
	ScopeAdmin            Scope = "admin"
)

// KnownScopes lists every scope, for validating keys files and tokens.
var KnownScopes = []Scope{
	ScopeWorkflowsRead, ScopeWorkflowsStart, ScopeExecutionsRead, ScopeExecutionsWrite,
	ScopeRoomsJoin, ScopeRoomsBroadcast, ScopeConnectionsRead, ScopeConnectionsAdmin,
	ScopeSchedulesRead, ScopeSchedulesWrite, ScopeArtifactsWrite, ScopeAuditRead, ScopeAdmin,
}

// Identity is who a token speaks for: a name, the workspace it may see and
// the scopes it was granted.
type Identity struct {
	Name      string  `json:"identity"`
	Workspace string  `json:"workspace"`
	Scopes    []Scope `json:"scopes"`
}

// Can reports whether the identity holds scope s (admin holds every scope).
// The empty scope is needed by services open to any authenticated client.
func (id Identity) Can(s Scope) bool {
	if s == "" {
		return true
	}
	return slices.Contains(id.Scopes, s) || slices.Contains(id.Scopes, ScopeAdmin)
}

// Require returns FORBIDDEN unless the identity holds scope s.
func (id Identity) Require(s Scope) error {
	if id.Can(s) {
		return nil
	}
	return Errorf(CodeForbidden, "token lacks scope %q", s)
}
