package actors

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// The audit trail (PROTOCOL.md section 8): every mutation leaves one
// record {time, identity, workspace, transport, action, target, outcome,
// remote_addr}. It is written here, where both transports meet: the
// adapters put an Origin (their transport and the client's address) in the
// request's context, and each mutating Service method records, once, with
// a deferred s.audited(ctx, who, action, target, &err). The same action
// over either surface so leaves the same record but for its transport.
//
// Records go through the store's group-commit writer without waiting for
// their fsync (persistence.Store.AppendAudit): a mutation pays no extra
// fsync for its record, which shares the commit of whatever is queued
// with it. A call without an Origin in its context (a workflow's lifecycle
// trigger, an internal call) is not recorded.

// Transports of an audit record.
const (
	TransportWS       = "ws"
	TransportHTTP     = "http"
	TransportSchedule = "schedule"
	TransportCLI      = "cli"
)

// SystemIdentity and SystemWorkspace name the server itself in the audit
// records of what no client asked for (a keys reload on SIGHUP). Those
// records are listed to tokens of workspace "system".
const (
	SystemIdentity  = "system"
	SystemWorkspace = "system"
)

// Origin is where a request came from: the transport that carried it and
// the client's address (its host, without the port, so that one client
// leaves one address over either surface).
type Origin struct {
	Transport  string
	RemoteAddr string
}

type originKey struct{}

// WithOrigin returns ctx carrying o. Adapters call it once per request.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginOf returns the origin in ctx, if any.
func OriginOf(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

// CLIUserAgent is the User-Agent prefix the weft command line sends on
// both surfaces; its requests are audited with transport "cli".
const CLIUserAgent = "weft-cli/"

// RequestOrigin is the Origin of a request that transport carried from
// remoteAddr ("host:port") with userAgent: the weft command line's
// requests are "cli" whichever surface they used.
func RequestOrigin(transport, remoteAddr, userAgent string) Origin {
	if strings.HasPrefix(userAgent, CLIUserAgent) {
		transport = TransportCLI
	}
	return Origin{Transport: transport, RemoteAddr: HostOf(remoteAddr)}
}

// AddressKey is what the per-address limits of both surfaces count a
// client under: its IP, or the /64 of an IPv6 address (one host usually
// holds a whole /64). There is no X-Forwarded-For: behind a proxy every
// client counts as the proxy.
func AddressKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return HostOf(remoteAddr)
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// HostOf is the host part of a "host:port" remote address (the address
// itself when it has no port).
func HostOf(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// auditState is the Service's audit switch and the sampling of refusals.
type auditState struct {
	off     atomic.Bool
	mu      sync.Mutex
	refused map[string]time.Time // identity -> last refusal recorded (sampling)
	swept   time.Time
}

// SetAudit turns the audit trail on (the default) or off.
func (s *Service) SetAudit(on bool) { s.aud.off.Store(!on) }

// AuditEnabled reports whether mutations are recorded.
func (s *Service) AuditEnabled() bool { return !s.aud.off.Load() }

// audited records action on target by who with the outcome *errp. It is
// meant to be deferred at the top of a method with a named error result.
func (s *Service) audited(ctx context.Context, who weft.Identity, action, target string, errp *error) {
	var err error
	if errp != nil {
		err = *errp
	}
	s.Audit(ctx, who, action, target, err)
}

// Audit records one action by who on target with outcome err (nil: ok),
// carried as the Origin in ctx says. Adapters call it for what they refuse
// before reaching a Service method, and for capabilities they implement
// themselves (e.g. artifact upload and delete). Without an Origin in ctx,
// or with the audit off, it does nothing. It does not wait for the
// record's commit.
func (s *Service) Audit(ctx context.Context, who weft.Identity, action, target string, err error) {
	if s == nil || s.sys == nil || s.aud.off.Load() {
		return
	}
	o, ok := OriginOf(ctx)
	if !ok || who.Workspace == "" {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = string(weft.ErrorCode(err))
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			outcome = string(weft.CodeUnavailable) // the caller went away
		}
	}
	s.sys.store.AppendAudit(persistence.AuditRecord{
		Time:       time.Now().UTC(),
		Identity:   who.Name,
		Workspace:  who.Workspace,
		Transport:  o.Transport,
		Action:     action,
		Target:     target,
		Outcome:    outcome,
		RemoteAddr: o.RemoteAddr,
	}, nil)
}

// AuditRefusal records a refusal that may flood (RATE_LIMITED): at most
// one record per identity and workspace per second; the others are
// dropped.
func (s *Service) AuditRefusal(ctx context.Context, who weft.Identity, action string, err error) {
	if s == nil || s.aud.off.Load() || who.Workspace == "" {
		return
	}
	key := who.Workspace + "\x00" + who.Name
	now := time.Now()
	s.aud.mu.Lock()
	if s.aud.refused == nil {
		s.aud.refused = make(map[string]time.Time)
	}
	if now.Sub(s.aud.swept) > time.Minute {
		for k, t := range s.aud.refused {
			if now.Sub(t) > time.Second {
				delete(s.aud.refused, k)
			}
		}
		s.aud.swept = now
	}
	last, seen := s.aud.refused[key]
	record := !seen || now.Sub(last) >= time.Second
	if record {
		s.aud.refused[key] = now
	}
	s.aud.mu.Unlock()
	if record {
		s.Audit(ctx, who, action, "", err)
	}
}

// AuditSystem records an action of the server itself (identity and
// workspace "system"), e.g. a keys reload.
func (s *Service) AuditSystem(action, target string, err error) {
	s.Audit(WithOrigin(context.Background(), Origin{Transport: TransportCLI}),
		weft.Identity{Name: SystemIdentity, Workspace: SystemWorkspace}, action, target, err)
}

// AuditListRequest is the request of audit.list (GET /api/v1/audit).
type AuditListRequest struct {
	After    string    `json:"after"`
	Limit    int       `json:"limit"`
	Action   string    `json:"action"`
	Identity string    `json:"identity"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
}

// ListAudit answers audit.list: the caller's workspace's records, oldest
// first, a page at a time.
func (s *Service) ListAudit(ctx context.Context, who weft.Identity, req AuditListRequest) (persistence.AuditPage, error) {
	if err := who.Require(weft.ScopeAuditRead); err != nil {
		return persistence.AuditPage{}, err
	}
	if req.Limit < 0 || req.Limit > 1000 {
		return persistence.AuditPage{}, weft.Errorf(weft.CodeInvalidRequest, "limit must be between 1 and 1000")
	}
	page, err := s.sys.store.ListAudit(ctx, persistence.AuditFilter{
		Workspace: who.Workspace, Action: req.Action, Identity: req.Identity,
		Since: req.Since, Until: req.Until, After: req.After, Limit: req.Limit,
	})
	if errors.Is(err, persistence.ErrInvalid) {
		return persistence.AuditPage{}, weft.Errorf(weft.CodeInvalidRequest, "after: not a cursor of this listing")
	}
	if err != nil {
		return persistence.AuditPage{}, storeError(err)
	}
	return page, nil
}

// sweepAudit removes the audit records older than the server's retention,
// a batch per commit (the retention sweeper calls it).
func (w *sweeper) sweepAudit(ctx context.Context, sys *System, now time.Time) (int, error) {
	if w.retention <= 0 {
		return 0, nil
	}
	total := 0
	for {
		began := time.Now()
		n, more, err := sys.store.DeleteAuditBefore(ctx, now.Add(-w.retention), w.batch)
		total += n
		if err != nil || !more {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(max(time.Since(began), minSweepPause)):
		}
	}
}
