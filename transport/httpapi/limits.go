package httpapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/transport/auth"
)

// Guard wraps the server's whole handler (the API, the socket upgrade,
// the console, health and metrics) with the per-address rate limit of
// requests that do not authenticate (Config.RatePerIP). Guard checks the
// credentials a request carries first (Authorization: Bearer, ?token=,
// the x-api-key subprotocol): a request with a good token does not count
// against its address (its token's own bucket applies, see authed). Any
// other request (a missing or wrong token, a document, an unknown route)
// takes one token from its address's bucket before it is served, or gets
// 429 RATE_LIMITED with Retry-After; so wrong-token guesses cannot go
// faster than the rate, whatever their concurrency. A 401 answered for
// another reason (e.g. a good token sent where only Bearer is taken)
// counts too. A socket upgrade without credentials (in-band auth) counts
// as well: otherwise a client could guess tokens in-band as fast as it can
// reconnect (weft closes a socket after one wrong auth frame).
// /healthz, /readyz and /metrics are never limited; a 401 from /metrics (a
// wrong metrics token) still counts against the address.
func (a *API) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &guardState{}
		if creds, ok := auth.FromRequest(r); ok {
			st.checked = true
			st.token = creds.Token
			st.who, st.err = a.auth.Authenticate(creds.Token)
		}
		key := actors.AddressKey(r.RemoteAddr)
		charged := false
		if a.ips != nil && !unlimitedPath(r.URL.Path) && !(st.checked && st.err == nil) {
			now := time.Now()
			res := a.ips.get(key, now).ReserveN(now, 1)
			if wait := res.DelayFrom(now); !res.OK() || wait > 0 {
				res.CancelAt(now)
				a.log.Debug().Str("remote_addr", r.RemoteAddr).Str("path", r.URL.Path).Msg("address over its rate limit")
				a.refuse(w, r, rateLimited(w, wait, "this address sends too many unauthenticated requests"))
				return
			}
			charged = true
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), guardKey{}, st)))
		if a.ips != nil && !charged && sw.status == http.StatusUnauthorized {
			a.ips.get(key, time.Now()).Allow()
		}
	})
}

// guardState is what Guard learnt of a request's credentials, so that the
// API's routes do not authenticate twice.
type guardState struct {
	checked bool // a token was presented and authenticated (or refused)
	token   string
	who     weft.Identity
	err     error
}

type guardKey struct{}

// allowToken takes one request from the bucket of token, or answers why
// not.
func (a *API) allowToken(w http.ResponseWriter, token string) error {
	if a.tokens == nil {
		return nil
	}
	sum := sha256.Sum256([]byte(token)) // the map holds no tokens
	now := time.Now()
	res := a.tokens.get(string(sum[:]), now).ReserveN(now, 1)
	if wait := res.DelayFrom(now); !res.OK() || wait > 0 {
		res.CancelAt(now)
		return rateLimited(w, wait, "this token sends too many requests")
	}
	return nil
}

// rateLimited sets Retry-After (whole seconds, at least 1) and returns the
// RATE_LIMITED error.
func rateLimited(w http.ResponseWriter, wait time.Duration, why string) error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return weft.Errorf(weft.CodeRateLimited, "%s: retry in %d s", why, secs)
}

// refuse answers a request refused before its body was read (401, 429).
// A request with a body gets its answer at once and then loses its
// connection: net/http would otherwise read the rest of the body, before
// answering (to keep the connection) or after (to reuse it), and a client
// trickling a body would hold the answer or the server for as long as it
// likes.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		WriteError(w, err)
		return
	}
	w.Header().Set("Connection", "close")
	WriteError(w, err)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	conn, _, herr := rc.Hijack()
	if herr != nil {
		return // not HTTP/1 (HTTP/2 resets the stream itself)
	}
	go lingerClose(conn)
}

// lingerClose closes a connection whose peer may still be sending: it
// ends our side first and reads (bounded in time and bytes) for a moment,
// so that the close does not reset the connection before the peer has
// read the answer (as net/http does, see its rstAvoidanceDelay).
func lingerClose(c net.Conn) {
	defer c.Close()
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.CopyN(io.Discard, c, 256<<10)
}

// unlimitedPath: the probes and metrics scrapers, which must keep working
// while an address is limited.
func unlimitedPath(p string) bool {
	return p == "/healthz" || p == "/readyz" || p == "/metrics"
}

// statusWriter records the status of an answer. It unwraps (for
// http.ResponseController) and hijacks (for the socket upgrader).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ReadFrom lets http.ServeContent (artifact downloads) reach net/http's
// own ReadFrom, which sends a file with sendfile(2) instead of copying it
// through user space.
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{s.ResponseWriter}, r)
}

func (s *statusWriter) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// limiterSet holds one token bucket per key. A bucket unused for longer
// than it takes to refill is full, so dropping it changes nothing: idle
// buckets are swept, and the set never holds more than maxBuckets.
type limiterSet struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu     sync.Mutex
	m      map[string]*bucket
	swept  time.Time
	maxLen int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxBuckets bounds each set (a bucket is about 150 bytes).
const maxBuckets = 100_000

// newLimiterSet returns nil (no limit) for a negative rate.
func newLimiterSet(perSecond float64, burst int) *limiterSet {
	if perSecond < 0 {
		return nil
	}
	idle := time.Minute
	if perSecond > 0 {
		idle = max(idle, time.Duration(float64(burst)/perSecond*float64(time.Second)))
	}
	return &limiterSet{limit: rate.Limit(perSecond), burst: burst, idle: idle, m: map[string]*bucket{}, maxLen: maxBuckets}
}

// get returns the bucket of key, new and full if there was none.
func (s *limiterSet) get(key string, now time.Time) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) >= s.idle/2 || (len(s.m) >= s.maxLen && now.Sub(s.swept) >= time.Second) {
		s.sweep(now)
	}
	b := s.m[key]
	if b == nil {
		if len(s.m) >= s.maxLen {
			for k := range s.m { // full of active keys: drop any one
				delete(s.m, k)
				break
			}
		}
		b = &bucket{lim: rate.NewLimiter(s.limit, s.burst)}
		s.m[key] = b
	}
	b.seen = now
	return b.lim
}

func (s *limiterSet) sweep(now time.Time) {
	for k, b := range s.m {
		if now.Sub(b.seen) >= s.idle {
			delete(s.m, k)
		}
	}
	s.swept = now
}

func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
