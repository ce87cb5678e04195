package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Artifacts are blobs too large for a frame (PROTOCOL.md section 8). Their
// bytes go over the server's HTTP plane, never the socket: the methods
// below call it at the socket URL's host (ws -> http, wss -> https, the
// path before /api/v1/socket kept as a prefix) with the client's token in
// an Authorization header, whatever Options.Auth says, and the client's
// User-Agent (Options.UserAgent, else Options.Header's) if it has one.

// ArtifactMeta describes one artifact.
type ArtifactMeta struct {
	ArtifactID  string    `json:"artifact_id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"` // hex; also the download's ETag
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
	// ExecutionID is the execution that created it ("" for an upload).
	ExecutionID string `json:"execution_id,omitempty"`
}

// PutArtifact uploads r as a new artifact of the workspace (scope
// artifacts:write). The body is streamed as it is read, never held whole:
// an *os.File (anything with Stat) is sent with its remaining length, so a
// file over the server's --max-artifact-bytes is refused before it is
// sent; any other reader goes chunked. Over the bound: an *Error with
// CodeMessageTooLarge, and nothing is kept. contentType "" is
// application/octet-stream.
func (c *Client) PutArtifact(ctx context.Context, name, contentType string, r io.Reader) (ArtifactMeta, error) {
	path := "/api/v1/artifacts"
	if name != "" {
		path += "?name=" + url.QueryEscape(name)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	size := int64(-1)
	if r == nil {
		r, size = http.NoBody, 0
	} else if n, ok := remaining(r); ok {
		size = n
	}
	req, err := c.httpRequest(ctx, http.MethodPost, path, io.NopCloser(r))
	if err != nil {
		return ArtifactMeta{}, err
	}
	req.Header.Set("Content-Type", contentType)
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	var m ArtifactMeta
	err = c.httpJSON(req, &m)
	return m, err
}

// remaining is the number of bytes left in r when it can tell (a regular
// file, or a bytes/strings reader).
func remaining(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case interface {
		Stat() (fs.FileInfo, error)
		io.Seeker
	}:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0, false
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil || off > st.Size() {
			return 0, false
		}
		return st.Size() - off, true
	}
	return 0, false
}

// GetArtifact opens an artifact's bytes (scope executions:read); the
// caller reads and closes them. The metadata comes from the answer's
// headers (ExecutionID is not among them: ArtifactInfo has it). Another
// workspace's artifact, or none: CodeArtifactNotFound.
func (c *Client) GetArtifact(ctx context.Context, id string) (io.ReadCloser, ArtifactMeta, error) {
	return c.getArtifact(ctx, id, "")
}

// GetArtifactRange is GetArtifact for length bytes from offset (length < 0:
// to the end), with an HTTP Range request.
func (c *Client) GetArtifactRange(ctx context.Context, id string, offset, length int64) (io.ReadCloser, ArtifactMeta, error) {
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length >= 0 {
		if length == 0 {
			return io.NopCloser(strings.NewReader("")), ArtifactMeta{ArtifactID: id}, nil
		}
		rng += strconv.FormatInt(offset+length-1, 10)
	}
	return c.getArtifact(ctx, id, rng)
}

func (c *Client) getArtifact(ctx context.Context, id, rng string) (io.ReadCloser, ArtifactMeta, error) {
	req, err := c.httpRequest(ctx, http.MethodGet, "/api/v1/artifacts/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, ArtifactMeta{}, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.httpDo(req)
	if err != nil {
		return nil, ArtifactMeta{}, err
	}
	m := ArtifactMeta{
		ArtifactID:  id,
		Name:        resp.Header.Get("X-Artifact-Name"),
		SHA256:      strings.Trim(resp.Header.Get("ETag"), `"`),
		ContentType: resp.Header.Get("Content-Type"),
	}
	m.Size, _ = strconv.ParseInt(resp.Header.Get("X-Artifact-Size"), 10, 64)
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		m.CreatedAt = t
	}
	return resp.Body, m, nil
}

// ArtifactInfo answers an artifact's metadata over the socket
// (artifact.get).
func (c *Client) ArtifactInfo(ctx context.Context, id string) (ArtifactMeta, error) {
	var m ArtifactMeta
	err := c.call(ctx, "artifact.get", map[string]string{"artifact_id": id}, &m)
	return m, err
}

// DeleteArtifact deletes an artifact of the workspace (scope
// artifacts:write). Its bytes go when no other artifact shares them.
func (c *Client) DeleteArtifact(ctx context.Context, id string) error {
	req, err := c.httpRequest(ctx, http.MethodDelete, "/api/v1/artifacts/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	return c.httpJSON(req, nil)
}

// ListArtifacts lists the workspace's artifacts, newest first (at most
// 1000).
func (c *Client) ListArtifacts(ctx context.Context) ([]ArtifactMeta, error) {
	req, err := c.httpRequest(ctx, http.MethodGet, "/api/v1/artifacts", nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []ArtifactMeta `json:"items"`
	}
	err = c.httpJSON(req, &list)
	return list.Items, err
}

// HTTPBase is the root of the server's HTTP plane (http://host:port, plus
// any prefix before /api/v1/socket): Address().HTTP(). It never fails; the
// error is kept for callers written when it could.
func (c *Client) HTTPBase() (string, error) { return c.addr.HTTP(), nil }

func (c *Client) httpRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	base, err := c.HTTPBase()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, &Error{Code: CodeInvalidRequest, Message: "client: " + err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	if ua := c.opts.userAgent(); ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	return req, nil
}

// httpClient is Options.HTTPClient, or one made once with the socket
// dialer's TLS settings and proxy.
func (c *Client) httpClient() *http.Client {
	if c.opts.HTTPClient != nil {
		return c.opts.HTTPClient
	}
	c.httpOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if d := c.opts.Dialer; d != nil {
			if d.TLSClientConfig != nil {
				tr.TLSClientConfig = d.TLSClientConfig.Clone()
			}
			if d.Proxy != nil {
				tr.Proxy = d.Proxy
			}
		}
		c.http = &http.Client{Transport: tr}
	})
	return c.http
}

// httpDo sends req; an answer other than 2xx is an *Error (its body's
// error object, or one made from the status).
func (c *Client) httpDo(req *http.Request) (*http.Response, error) {
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &Error{Code: CodeUnavailable, Message: "client: " + err.Error(), Retryable: true}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, httpError(resp)
}

func (c *Client) httpJSON(req *http.Request, out any) error {
	resp, err := c.httpDo(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &Error{Code: CodeInternal, Message: "client: bad answer from " + req.URL.Path + ": " + err.Error()}
	}
	return nil
}

// httpError maps an HTTP refusal: the protocol's error body when there is
// one, else the status's code (PROTOCOL.md section 8).
func httpError(resp *http.Response) *Error {
	var body struct {
		Error *Error `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &body) == nil && body.Error != nil && body.Error.Code != "" {
		return body.Error
	}
	e := &Error{Message: resp.Status}
	switch resp.StatusCode {
	case http.StatusBadRequest:
		e.Code = CodeInvalidRequest
	case http.StatusUnauthorized:
		e.Code = CodeUnauthenticated
	case http.StatusForbidden:
		e.Code = CodeForbidden
	case http.StatusNotFound:
		e.Code = CodeArtifactNotFound
	case http.StatusConflict:
		e.Code = CodeConflict
	case http.StatusRequestEntityTooLarge:
		e.Code = CodeMessageTooLarge
	case http.StatusTooManyRequests:
		e.Code, e.Retryable = CodeRateLimited, true
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		e.Code, e.Retryable = CodeUnavailable, true
	default:
		e.Code = CodeInternal
	}
	return e
}
