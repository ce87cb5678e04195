package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/transport/auth"
)

// The audit trail is written by actors.Service; the HTTP plane's part is to
// say where a request came from: authed puts an actors.Origin (transport
// "http", or "cli" for the weft command line's User-Agent "weft-cli/...",
// and the client's host) in every authenticated request's context.

// Origin is the actors.Origin of r.
func Origin(r *http.Request) actors.Origin {
	return actors.RequestOrigin(actors.TransportHTTP, r.RemoteAddr, r.UserAgent())
}

// withOrigin returns r with its origin in its context.
func withOrigin(r *http.Request) *http.Request {
	return r.WithContext(actors.WithOrigin(r.Context(), Origin(r)))
}

// Audit records an action that a handler carries out itself, without a
// Service method that records it (e.g. artifact upload and delete): who
// did action on target, with outcome err (nil: ok). Call it from a route
// mounted with authed, whose request context carries the origin.
func (a *API) Audit(r *http.Request, who weft.Identity, action, target string, err error) {
	ctx := r.Context()
	if _, ok := actors.OriginOf(ctx); !ok {
		ctx = actors.WithOrigin(ctx, Origin(r))
	}
	a.svc.Audit(ctx, who, action, target, err)
}

// auditRefusal records a request refused RATE_LIMITED by a known identity
// (sampled: at most one record per identity per second).
func (a *API) auditRefusal(r *http.Request, who weft.Identity, err error) {
	a.svc.AuditRefusal(actors.WithOrigin(r.Context(), Origin(r)), who, "rate_limited", err)
}

// auditUnauthenticated records a request refused UNAUTHENTICATED when the
// token named a known identity: a JWT with a good signature but expired or
// not valid yet (auth.RefusedIdentity). It is sampled like RATE_LIMITED (at
// most one record per identity per second). Unknown tokens are not
// recorded: there is no identity, so no workspace, to record them under.
func (a *API) auditUnauthenticated(r *http.Request, err error) {
	if who, ok := auth.RefusedIdentity(err); ok {
		a.svc.AuditRefusal(actors.WithOrigin(r.Context(), Origin(r)), who, "authenticate", err)
	}
}

// listAudit answers GET /api/v1/audit?after=&limit=&action=&identity=&since=&until=
// (since and until are RFC 3339 times).
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	q := r.URL.Query()
	req := actors.AuditListRequest{After: q.Get("after"), Action: q.Get("action"), Identity: q.Get("identity")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return weft.Errorf(weft.CodeInvalidRequest, "limit must be a positive integer")
		}
		req.Limit = n
	}
	for name, dst := range map[string]*time.Time{"since": &req.Since, "until": &req.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return weft.Errorf(weft.CodeInvalidRequest, "%s must be an RFC 3339 time", name)
			}
			*dst = t
		}
	}
	page, err := a.svc.ListAudit(r.Context(), who, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
