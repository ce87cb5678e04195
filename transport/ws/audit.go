package ws

import (
	"context"
	"net/http"

	"github.com/weft-run/weft/actors"
)

// The audit trail is written by actors.Service; the socket's part is to
// say where a request came from. Every request's context carries an
// actors.Origin: transport "ws", or "cli" when the upgrade came from the
// weft command line (User-Agent "weft-cli/..."), and the peer's host.

// upgradeOrigin is the actors.Origin of an upgrade request, and so of
// every request of its connection.
func upgradeOrigin(r *http.Request) actors.Origin {
	return actors.RequestOrigin(actors.TransportWS, r.RemoteAddr, r.UserAgent())
}

// requestContext is the context of one request: the connection's, with
// its origin.
func (c *connActor) requestContext() context.Context {
	return actors.WithOrigin(c.ctx, c.from)
}

// auditRateLimited records a frame refused RATE_LIMITED (sampled: at most
// one record per identity per second). Before authentication there is no
// identity, so nothing is recorded.
func (c *connActor) auditRateLimited(err error) {
	if c.who == nil {
		return
	}
	c.svc.AuditRefusal(c.requestContext(), *c.who, "rate_limited", err)
}

// auditList answers audit.list.
func auditList(ctx context.Context, r *request) (any, error) {
	var req actors.AuditListRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.ListAudit(ctx, r.who, req)
}
