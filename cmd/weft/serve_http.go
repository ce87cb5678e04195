package main

import (
	"flag"
	"time"

	"github.com/weft-run/weft/transport/httpapi"
)

// httpFlags bound the HTTP server: timeouts, header size and the request
// rates of the resource plane (httpapi.Config).
type httpFlags struct {
	readTimeout       time.Duration
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
	ratePerToken      float64
	burstPerToken     int
	ratePerIP         float64
	burstPerIP        int
	maxArtifactBytes  int64
}

func (f *httpFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.readTimeout, "http-read-timeout", 30*time.Second, "time to read one HTTP request, headers and body (event streams and sockets are exempt once open)")
	fs.DurationVar(&f.readHeaderTimeout, "http-read-header-timeout", 5*time.Second, "time to read an HTTP request's headers")
	fs.DurationVar(&f.idleTimeout, "http-idle-timeout", 30*time.Second, "an idle keep-alive HTTP connection is closed after this")
	fs.IntVar(&f.maxHeaderBytes, "http-max-header-bytes", 32<<10, "largest HTTP request header block")
	fs.Float64Var(&f.ratePerToken, "http-rate-per-token", 100, "HTTP requests per second per token, then 429 RATE_LIMITED (0: no limit)")
	fs.IntVar(&f.burstPerToken, "http-burst-per-token", 200, "burst above --http-rate-per-token")
	fs.Float64Var(&f.ratePerIP, "http-rate-per-ip", 50, "unauthenticated HTTP requests (no or wrong token, failed upgrades) per second per client address, then 429 (0: no limit)")
	fs.IntVar(&f.burstPerIP, "http-burst-per-ip", 100, "burst above --http-rate-per-ip")
	fs.Int64Var(&f.maxArtifactBytes, "max-artifact-bytes", 100<<20, "largest artifact, uploaded (POST /api/v1/artifacts; larger: 413 WS_MESSAGE_TOO_LARGE) or created by a workflow")
}

func (f *httpFlags) config() httpapi.Config {
	return httpapi.Config{
		ReadTimeout:       f.readTimeout,
		ReadHeaderTimeout: f.readHeaderTimeout,
		IdleTimeout:       f.idleTimeout,
		MaxHeaderBytes:    f.maxHeaderBytes,
		RatePerToken:      noLimitIfZero(f.ratePerToken),
		BurstPerToken:     f.burstPerToken,
		RatePerIP:         noLimitIfZero(f.ratePerIP),
		BurstPerIP:        f.burstPerIP,
	}
}

// noLimitIfZero maps a flag's 0 (no limit) to the negative value the
// configurations take for it (0 there is the default).
func noLimitIfZero[N int | float64](n N) N {
	if n <= 0 {
		return -1
	}
	return n
}
