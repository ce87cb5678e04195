package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weft-run/weft/workflows"
)

// DefaultBaseURL is the OpenAI API.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultIdleTimeout is how long a stream may stay silent, waiting for the
// answer to start or between two chunks. Local models on a CPU can take a
// while for a long prompt's first token; a minute covers them.
const DefaultIdleTimeout = 60 * time.Second

// Config configures a Provider. Zero values take the defaults noted.
type Config struct {
	BaseURL     string        // default DefaultBaseURL; e.g. http://127.0.0.1:11434/v1 for Ollama
	APIKey      string        // sent as a bearer token; "" sends none (local servers)
	Model       string        // for requests that name none
	IdleTimeout time.Duration // default DefaultIdleTimeout
	HTTPClient  *http.Client  // default: a client with no overall timeout (streams are long)
	Name        string        // shown in llm_start; default "openai"
}

// Provider streams chat completions from an OpenAI-compatible server.
type Provider struct {
	cfg      Config
	endpoint string
}

var _ workflows.Provider = (*Provider)(nil)

// New checks the config and returns a provider.
func New(cfg Config) (*Provider, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: base URL %q: want http(s)://host[:port]/path", cfg.BaseURL)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Name == "" {
		cfg.Name = "openai"
	}
	return &Provider{cfg: cfg, endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions"}, nil
}

// Name returns the configured name ("openai" by default).
func (p *Provider) Name() string { return p.cfg.Name }

// DefaultModel returns the model of requests that name none.
func (p *Provider) DefaultModel() string { return p.cfg.Model }

// errIdle is the cause of a request cut for silence.
var errIdle = errors.New("idle timeout")

// Stream sends req with stream: true and hands each content delta to
// onDelta as it is read. See the package doc for how failures are
// reported.
func (p *Provider) Stream(ctx context.Context, req workflows.LLMRequest, onDelta func(string)) (workflows.LLMResponse, error) {
	body, err := json.Marshal(newChatRequest(req, p.cfg.Model))
	if err != nil {
		return workflows.LLMResponse{}, workflows.NonRetryable(fmt.Errorf("openai: encode request: %w", err))
	}
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The idle timer covers the wait for the answer and each wait for the
	// next bytes; it is reset on every read that returns data.
	idle := time.AfterFunc(p.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	hreq, err := http.NewRequestWithContext(reqCtx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return workflows.LLMResponse{}, workflows.NonRetryable(fmt.Errorf("openai: %w", err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if p.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+p.cfg.APIKey)
	}
	resp, err := p.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return workflows.LLMResponse{}, p.failure(ctx, reqCtx, "request failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return workflows.LLMResponse{}, httpError(resp)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "application/json" {
		return workflows.LLMResponse{}, workflows.NonRetryable(&workflows.ProviderError{
			Code: workflows.CodeBadResponse, StatusCode: resp.StatusCode,
			Message: "openai: the server answered JSON, not an event stream: does it support stream: true?",
		})
	}
	out, err := decodeStream(&idleReader{r: resp.Body, idle: idle, d: p.cfg.IdleTimeout}, onDelta)
	if err != nil {
		return workflows.LLMResponse{}, p.failure(ctx, reqCtx, "stream failed", err)
	}
	return out, nil
}

// failure classifies an error of the request or of reading the stream.
func (p *Provider) failure(ctx, reqCtx context.Context, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("openai: %w", ctx.Err())
	case errors.Is(context.Cause(reqCtx), errIdle):
		return &workflows.ProviderError{Code: workflows.CodeProviderTimeout,
			Message: fmt.Sprintf("openai: no data for %s", p.cfg.IdleTimeout)}
	case errors.Is(err, errBadResponse):
		return workflows.NonRetryable(&workflows.ProviderError{Code: workflows.CodeBadResponse, Message: "openai: bad stream", Err: err})
	case errors.Is(err, errIncomplete):
		return &workflows.ProviderError{Code: workflows.CodeProviderError, Message: "openai: " + err.Error()}
	}
	var pe *workflows.ProviderError
	if errors.As(err, &pe) {
		return err
	}
	return &workflows.ProviderError{Code: workflows.CodeProviderError, Message: "openai: " + what, Err: err}
}

// httpError turns a non-200 answer into a ProviderError, retryable for 408,
// 409 (OpenAI's "try again"), 429 and 5xx.
func httpError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	msg := strings.TrimSpace(string(raw))
	var body struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil {
		msg = body.Error.text()
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e := &workflows.ProviderError{
		Code: workflows.CodeProviderError, StatusCode: resp.StatusCode,
		Message: fmt.Sprintf("openai: HTTP %d: %s", resp.StatusCode, truncate(msg, 500)),
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		e.Code = workflows.CodeRateLimited
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		return e
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
		return e
	default:
		return workflows.NonRetryable(e)
	}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// idleReader resets the idle timer whenever bytes arrive.
type idleReader struct {
	r    io.Reader
	idle *time.Timer
	d    time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.idle.Reset(r.d)
	}
	return n, err
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
