package server_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
)

// jwtSecret is the HS256 secret startServer configures.
const jwtSecret = "test-secret-0123456789-0123456789-abcdef"

// authServerWithSocket is startServer with explicit socket limits (used for
// a short auth_timeout).
func authServerWithSocket(t testing.TB, sock ws.Config) *testServer {
	t.Helper()
	return bootServer(t, "", func(c *server.Config) { c.Socket = sock })
}

// authDial dials with a header and offered subprotocols and returns what
// the dialer returned; a connection is closed at test end.
func authDial(t testing.TB, rawURL string, h http.Header, subprotocols []string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: subprotocols}
	conn, resp, err := d.Dial(rawURL, h)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

// connectedData is the data of the connected push.
type connectedData struct {
	ConnectionID        string   `json:"connection_id"`
	Identity            string   `json:"identity"`
	Workspace           string   `json:"workspace"`
	Scopes              []string `json:"scopes"`
	HeartbeatIntervalMS *int64   `json:"heartbeat_interval_ms"`
	Limits              *struct {
		MaxMessageBytes   *float64 `json:"max_message_bytes"`
		MessagesPerSecond *float64 `json:"messages_per_second"`
	} `json:"limits"`
}

// authExpectConnected reads the next frame and checks it is a connected
// push for the given identity, workspace and scopes, with the default limits.
func authExpectConnected(t testing.TB, c *client, identity, workspace string, scopes []string) connectedData {
	t.Helper()
	f := c.read()
	if got, want := f.Type, "connected"; got != want {
		t.Fatalf("first frame type = %q (%+v), want %q", got, f, want)
	}
	d := decode[connectedData](t, f.Data)
	if !strings.HasPrefix(d.ConnectionID, "ws_") || len(d.ConnectionID) <= len("ws_") {
		t.Errorf("connection_id = %q, want ws_<something>", d.ConnectionID)
	}
	if got, want := d.Identity, identity; got != want {
		t.Errorf("identity = %q, want %q", got, want)
	}
	if got, want := d.Workspace, workspace; got != want {
		t.Errorf("workspace = %q, want %q", got, want)
	}
	if got, want := d.Scopes, scopes; !slices.Equal(got, want) {
		t.Errorf("scopes = %q, want %q", got, want)
	}
	if d.HeartbeatIntervalMS == nil || *d.HeartbeatIntervalMS <= 0 {
		t.Errorf("heartbeat_interval_ms missing or not positive in %s", f.Data)
	} else if got, want := *d.HeartbeatIntervalMS, int64(30000); got != want {
		t.Errorf("heartbeat_interval_ms = %d, want %d", got, want)
	}
	if d.Limits == nil || d.Limits.MaxMessageBytes == nil || d.Limits.MessagesPerSecond == nil {
		t.Fatalf("limits missing in %s", f.Data)
	}
	if got, want := *d.Limits.MaxMessageBytes, float64(65536); got != want {
		t.Errorf("limits.max_message_bytes = %v, want %v", got, want)
	}
	if got, want := *d.Limits.MessagesPerSecond, float64(100); got != want {
		t.Errorf("limits.messages_per_second = %v, want %v", got, want)
	}
	return d
}

// authExpectPing checks the connection answers the ping service.
func authExpectPing(t testing.TB, c *client) {
	t.Helper()
	f := c.call("auth-ping", "ping", nil)
	if f.Error != nil {
		t.Fatalf("ping after auth: %+v", f.Error)
	}
	got := decode[map[string]any](t, f.Response)
	if got["pong"] != true {
		t.Fatalf("ping response = %s, want {\"pong\":true}", f.Response)
	}
}

// authExpect401 checks a refused handshake: HTTP 401 and the protocol's
// JSON error body with UNAUTHENTICATED.
func authExpect401(t testing.TB, conn *websocket.Conn, resp *http.Response, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("dial succeeded (subprotocol %q), want HTTP 401", conn.Subprotocol())
	}
	if !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("dial error = %v, want %v", err, websocket.ErrBadHandshake)
	}
	if resp == nil {
		t.Fatal("no HTTP response for the refused handshake")
	}
	if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	body, rerr := io.ReadAll(resp.Body)
	if rerr != nil {
		t.Fatalf("read body: %v", rerr)
	}
	var e struct {
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Retryable *bool  `json:"retryable"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	if e.Error == nil {
		t.Fatalf("body %s has no error object", body)
	}
	if got, want := e.Error.Code, "UNAUTHENTICATED"; got != want {
		t.Errorf("error.code = %q, want %q (body %s)", got, want, body)
	}
	if e.Error.Message == "" {
		t.Errorf("error.message is empty (body %s)", body)
	}
	if e.Error.Retryable != nil && *e.Error.Retryable {
		t.Errorf("error.retryable = true, want false (body %s)", body)
	}
}

// authExpectRefusedInBand reads the auth_error frame and the 4001 close
// that follow a refused in-band authentication.
func authExpectRefusedInBand(t testing.TB, c *client) {
	t.Helper()
	f := c.read()
	if got, want := f.Type, "auth_error"; got != want {
		t.Fatalf("frame = %+v, want type %q", f, want)
	}
	switch {
	case f.Error == nil:
		// PROTOCOL section 2: {"type":"auth_error","error":{"code",...}}.
		t.Errorf("auth_error frame has no top-level error object (data=%s), want {\"type\":\"auth_error\",\"error\":{...}}", f.Data)
	default:
		if got, want := f.Error.Code, "UNAUTHENTICATED"; got != want {
			t.Errorf("auth_error code = %q, want %q", got, want)
		}
		if f.Error.Message == "" {
			t.Error("auth_error message is empty")
		}
		if f.Error.Retryable {
			t.Error("auth_error retryable = true, want false")
		}
	}
	if got, want := c.expectClose(), 4001; got != want {
		t.Fatalf("close code = %d, want %d", got, want)
	}
}

// authMintJWT signs an HS256 JWT with the given claims.
func authMintJWT(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthAtUpgradeEachMethod(t *testing.T) {
	ts := startServer(t, "")
	bearer := func(tok string) http.Header {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+tok)
		return h
	}
	cases := []struct {
		name         string
		path         string
		header       http.Header
		subprotocols []string
		wantProto    string
		identity     string
		workspace    string
		scopes       []string
	}{
		{
			name: "bearer", path: "/api/v1/socket", header: bearer(adminToken),
			identity: "alice", workspace: "acme", scopes: []string{"admin"},
		},
		{
			name: "bearer_on_ws_alias", path: "/ws", header: bearer(readerToken),
			identity: "rita", workspace: "acme", scopes: []string{"executions:read"},
		},
		{
			name: "bearer_offering_weft.v1", path: "/api/v1/socket", header: bearer(adminToken),
			subprotocols: []string{"weft.v1"}, wantProto: "weft.v1",
			identity: "alice", workspace: "acme", scopes: []string{"admin"},
		},
		{
			name: "query", path: "/api/v1/socket?token=" + url.QueryEscape(readerToken),
			identity: "rita", workspace: "acme", scopes: []string{"executions:read"},
		},
		{
			name: "subprotocol_with_weft.v1", path: "/api/v1/socket",
			subprotocols: []string{"weft.v1", "x-api-key." + otherToken}, wantProto: "weft.v1",
			identity: "bob", workspace: "globex", scopes: []string{"admin"},
		},
		{
			name: "subprotocol_api_key_only", path: "/api/v1/socket",
			subprotocols: []string{"x-api-key." + adminToken}, wantProto: "x-api-key." + adminToken,
			identity: "alice", workspace: "acme", scopes: []string{"admin"},
		},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := authDial(t, ts.url(tc.path), tc.header, tc.subprotocols)
			if err != nil {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Fatalf("dial: %v (HTTP %d)", err, status)
			}
			if got, want := conn.Subprotocol(), tc.wantProto; got != want {
				t.Errorf("negotiated subprotocol = %q, want %q", got, want)
			}
			c := &client{t: t, conn: conn}
			d := authExpectConnected(t, c, tc.identity, tc.workspace, tc.scopes)
			if prev, dup := seen[d.ConnectionID]; dup {
				t.Errorf("connection_id %s reused (also %s)", d.ConnectionID, prev)
			}
			seen[d.ConnectionID] = tc.name
			authExpectPing(t, c)
		})
	}
}

func TestAuthAtUpgradeWrongTokenIs401(t *testing.T) {
	ts := startServer(t, "")
	const wrong = "tok-nope"
	bearer := http.Header{}
	bearer.Set("Authorization", "Bearer "+wrong)
	cases := []struct {
		name         string
		path         string
		header       http.Header
		subprotocols []string
	}{
		{name: "bearer", path: "/api/v1/socket", header: bearer},
		{name: "query", path: "/api/v1/socket?token=" + wrong},
		{name: "subprotocol_with_weft.v1", path: "/api/v1/socket", subprotocols: []string{"weft.v1", "x-api-key." + wrong}},
		{name: "subprotocol_api_key_only", path: "/api/v1/socket", subprotocols: []string{"x-api-key." + wrong}},
		{name: "bearer_on_ws_alias", path: "/ws", header: bearer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := authDial(t, ts.url(tc.path), tc.header, tc.subprotocols)
			authExpect401(t, conn, resp, err)
		})
	}
}

func TestAuthInBand(t *testing.T) {
	ts := startServer(t, "")
	cases := []struct {
		name      string
		token     string
		identity  string
		workspace string
		scopes    []string
	}{
		{name: "admin", token: adminToken, identity: "alice", workspace: "acme", scopes: []string{"admin"}},
		{name: "reader", token: readerToken, identity: "rita", workspace: "acme", scopes: []string{"executions:read"}},
		{name: "other_workspace", token: otherToken, identity: "bob", workspace: "globex", scopes: []string{"admin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := authDial(t, ts.url("/api/v1/socket"), nil, nil)
			if err != nil {
				t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
			}
			c := &client{t: t, conn: conn}
			c.send(map[string]any{"type": "auth", "token": tc.token})
			authExpectConnected(t, c, tc.identity, tc.workspace, tc.scopes)
			authExpectPing(t, c)
		})
	}
}

func TestAuthInBandRefused(t *testing.T) {
	ts := startServer(t, "")
	cases := []struct {
		name  string
		first any
	}{
		{name: "wrong_token", first: map[string]any{"type": "auth", "token": "tok-nope"}},
		{name: "auth_without_token", first: map[string]any{"type": "auth"}},
		{name: "ping_first", first: map[string]any{"type": "ping"}},
		{name: "request_first", first: map[string]any{"id": "r1", "service": "ping"}},
		{name: "start_request_first", first: map[string]any{"id": "r1", "service": "workflow.start", "request": map[string]any{"name": "echo"}}},
		{name: "shorthand_first", first: map[string]any{"name": "echo", "parameters": map[string]any{}}},
		{name: "not_json_first", first: "{oops"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := authDial(t, ts.url("/api/v1/socket"), nil, nil)
			if err != nil {
				t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
			}
			c := &client{t: t, conn: conn}
			c.send(tc.first)
			authExpectRefusedInBand(t, c)
		})
	}
	// Nothing the refused frames asked for was started.
	admin := dial(t, ts, adminToken)
	f := admin.call("list", "executions.list", map[string]any{})
	if f.Error != nil {
		t.Fatalf("executions.list: %+v", f.Error)
	}
	list := decode[struct {
		Items []json.RawMessage `json:"items"`
	}](t, f.Response)
	if got, want := len(list.Items), 0; got != want {
		t.Fatalf("unauthenticated frames started %d executions, want %d", got, want)
	}
}

func TestAuthInBandTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	ts := authServerWithSocket(t, ws.Config{AuthTimeout: timeout})

	t.Run("silent_client_closed_4001", func(t *testing.T) {
		conn, resp, err := authDial(t, ts.url("/api/v1/socket"), nil, nil)
		if err != nil {
			t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
		}
		began := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, data, err := conn.ReadMessage()
			if err == nil {
				var f frame
				_ = json.Unmarshal(data, &f)
				if f.Type == "connected" {
					t.Fatalf("unauthenticated socket got connected: %s", data)
				}
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read ended without a close frame: %v", err)
			}
			if got, want := ce.Code, 4001; got != want {
				t.Fatalf("close code = %d, want %d", got, want)
			}
			break
		}
		if elapsed := time.Since(began); elapsed < timeout/2 {
			t.Fatalf("closed after %v, before the %v auth_timeout", elapsed, timeout)
		}
	})

	t.Run("authenticated_in_time_stays_open", func(t *testing.T) {
		conn, resp, err := authDial(t, ts.url("/api/v1/socket"), nil, nil)
		if err != nil {
			t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
		}
		c := &client{t: t, conn: conn}
		c.send(map[string]any{"type": "auth", "token": adminToken})
		authExpectConnected(t, c, "alice", "acme", []string{"admin"})
		time.Sleep(3 * timeout)
		authExpectPing(t, c)
	})

	t.Run("upgrade_credentials_need_no_auth_frame", func(t *testing.T) {
		c := dial(t, ts, readerToken)
		time.Sleep(3 * timeout)
		authExpectPing(t, c)
	})
}

func TestAuthJWT(t *testing.T) {
	ts := startServer(t, "")
	now := time.Now()
	valid := authMintJWT(t, jwtSecret, jwt.MapClaims{
		"sub": "jess", "workspace": "acme",
		"scopes": []string{"workflows:start", "executions:read"},
		"exp":    now.Add(time.Hour).Unix(),
	})
	wantScopes := []string{"workflows:start", "executions:read"}

	t.Run("valid", func(t *testing.T) {
		cases := []struct {
			name         string
			path         string
			header       http.Header
			subprotocols []string
			inBand       bool
		}{
			{name: "bearer", path: "/api/v1/socket", header: http.Header{"Authorization": {"Bearer " + valid}}},
			{name: "query", path: "/api/v1/socket?token=" + url.QueryEscape(valid)},
			{name: "subprotocol", path: "/api/v1/socket", subprotocols: []string{"weft.v1", "x-api-key." + valid}},
			{name: "in_band", path: "/api/v1/socket", inBand: true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				conn, resp, err := authDial(t, ts.url(tc.path), tc.header, tc.subprotocols)
				if err != nil {
					status := 0
					if resp != nil {
						status = resp.StatusCode
					}
					t.Fatalf("dial: %v (HTTP %d)", err, status)
				}
				c := &client{t: t, conn: conn}
				if tc.inBand {
					c.send(map[string]any{"type": "auth", "token": valid})
				}
				authExpectConnected(t, c, "jess", "acme", wantScopes)

				// The JWT's scopes are the ones enforced.
				c.request("start", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"via": tc.name}})
				frames := c.readUntilComplete("start")
				last := frames[len(frames)-1]
				if last.Error != nil || last.Type != "execution_completed" {
					t.Fatalf("start with workflows:start JWT ended with %+v (error %+v)", last, last.Error)
				}
				f := c.call("list", "workflow.list", nil)
				if f.Error == nil {
					t.Fatalf("workflow.list without workflows:read = %s, want FORBIDDEN", f.Response)
				}
				if got, want := f.Error.Code, "FORBIDDEN"; got != want {
					t.Fatalf("workflow.list code = %q, want %q", got, want)
				}
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		cases := []struct {
			name  string
			token string
		}{
			{name: "expired", token: authMintJWT(t, jwtSecret, jwt.MapClaims{
				"sub": "jess", "workspace": "acme", "scopes": []string{"admin"},
				"exp": now.Add(-time.Hour).Unix(),
			})},
			{name: "wrong_secret", token: authMintJWT(t, "not-the-secret", jwt.MapClaims{
				"sub": "jess", "workspace": "acme", "scopes": []string{"admin"},
				"exp": now.Add(time.Hour).Unix(),
			})},
			{name: "tampered", token: tamperJWTWorkspace(t, valid, "globex")},
		}
		for _, tc := range cases {
			t.Run(tc.name+"/bearer", func(t *testing.T) {
				conn, resp, err := authDial(t, ts.url("/api/v1/socket"), http.Header{"Authorization": {"Bearer " + tc.token}}, nil)
				authExpect401(t, conn, resp, err)
			})
			t.Run(tc.name+"/in_band", func(t *testing.T) {
				conn, resp, err := authDial(t, ts.url("/api/v1/socket"), nil, nil)
				if err != nil {
					t.Fatalf("upgrade without credentials: %v (resp %v)", err, resp)
				}
				c := &client{t: t, conn: conn}
				c.send(map[string]any{"type": "auth", "token": tc.token})
				authExpectRefusedInBand(t, c)
			})
		}
	})
}

// tamperJWTWorkspace rewrites the payload of a signed JWT (keeping the old
// signature), so the signature no longer matches.
func tamperJWTWorkspace(t testing.TB, token, workspace string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["workspace"] = workspace
	raw, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}
