package ws

import (
	"context"
	"net/http"
	"strings"

	"github.com/weft-run/weft/actors"
)

// The audit trail is written by actors.Service; the socket's part is to
// say where a request came from. Every request's context carries an
// actors.Origin: transport "ws", or "cli" when the upgrade came from the
// weft command line (User-Agent "weft-cli/..."), and the peer's host.

// CLIUserAgent is the User-Agent prefix the weft command line sends on
// both surfaces; requests carrying it are audited with transport "cli".
const CLIUserAgent = "weft-cli/"

// fromCLI reports whether an upgrade or HTTP request came from the weft
// command line.
func fromCLI(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("User-Agent"), CLIUserAgent)
}

// origin is this connection's actors.Origin.
func (c *connActor) origin() actors.Origin {
	o := actors.Origin{Transport: actors.TransportWS}
	if c.held.cli {
		o.Transport = actors.TransportCLI
	}
	if c.sock != nil {
		o.RemoteAddr = actors.HostOf(c.sock.RemoteAddr().String())
	}
	return o
}

// requestContext is the context of one request: the connection's, with
// its origin.
func (c *connActor) requestContext() context.Context {
	return actors.WithOrigin(c.ctx, c.origin())
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
