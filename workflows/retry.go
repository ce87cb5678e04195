package workflows

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// RetryPolicy says how often and how fast a failed step is tried again.
// The zero value means DefaultRetryPolicy.
type RetryPolicy struct {
	MaxAttempts     int           // total attempts, first included; 1 = never retry
	InitialInterval time.Duration // wait before the second attempt
	Multiplier      float64       // growth of the wait per attempt (>= 1)
	MaxInterval     time.Duration // cap on one wait
	Jitter          float64       // 0..1: each wait is randomised by ± this fraction
	// NonRetryableCodes lists CodedError codes that fail the step at once.
	NonRetryableCodes []string
}

// DefaultRetryPolicy is used by steps that set none: three attempts, 200 ms
// apart and doubling, with 20% jitter.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:     3,
	InitialInterval: 200 * time.Millisecond,
	Multiplier:      2,
	MaxInterval:     10 * time.Second,
	Jitter:          0.2,
}

// NoRetry tries a step exactly once.
var NoRetry = RetryPolicy{MaxAttempts: 1}

func (p RetryPolicy) orDefault() RetryPolicy {
	if p.MaxAttempts == 0 {
		return DefaultRetryPolicy
	}
	return p
}

// retryable reports whether err, on the given attempt, may be tried again.
func (p RetryPolicy) retryable(attempt int, err error) bool {
	if attempt >= p.MaxAttempts || IsNonRetryable(err) {
		return false
	}
	var nd *NondeterminismError
	if errors.As(err, &nd) {
		return false
	}
	var coded *CodedError
	if errors.As(err, &coded) && slices.Contains(p.NonRetryableCodes, coded.Code) {
		return false
	}
	return true
}

// backoff returns the wait after the given failed attempt (1-based).
func (p RetryPolicy) backoff(attempt int) time.Duration {
	mult := p.Multiplier
	if mult < 1 {
		mult = 1
	}
	d := float64(p.InitialInterval) * math.Pow(mult, float64(attempt-1))
	if p.MaxInterval > 0 && d > float64(p.MaxInterval) {
		d = float64(p.MaxInterval)
	}
	if p.Jitter > 0 {
		d *= 1 + p.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}
