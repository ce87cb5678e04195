package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/transport/ws"
)

// This file walks every service of both transports with four tokens:
//
//   - lacking: the caller's workspace and every scope but the one needed
//     (and admin): refused, 403 / FORBIDDEN;
//   - foreign: another workspace with the needed scope: an execution of the
//     first workspace is not found (404 / EXECUTION_NOT_FOUND), a list
//     holds none of its data;
//   - none: no token: 401 / UNAUTHENTICATED (on the socket: the upgrade is
//     accepted, the first frame is not auth, so auth_error and close 4001);
//   - right: the caller's workspace with exactly the needed scope: works.
//
// The tables are checked against the real lists (ws.Services() and the
// server's routes), so a service or route added without an entry here
// fails the test.

// scopeFixture holds the first workspace's ("acme") executions.
type scopeFixture struct {
	t  *testing.T
	ts *testServer
	// done is a completed echo of acme's.
	done string
	// waiting is an approval of acme's that waits for its signal for the
	// whole test: foreign cancels and signals must leave it so.
	waiting string
	// keyed is acme's echo started with idempotency key "scope-walk".
	keyed string
	acme  []string // every acme execution the fixture made
	// member is an acme socket in room "lobby" (without presence, so all
	// it receives is what is sent to it), open for the whole test.
	member   *websocket.Conn
	memberID string
}

const scopeRoom = "lobby"

const scopeWalkKey = "scope-walk"

func newScopeFixture(t *testing.T, ts *testServer) *scopeFixture {
	fx := &scopeFixture{t: t, ts: ts}
	fx.done = fx.start("echo", map[string]any{"secret": "acme"})
	fx.waiting = fx.start("approval", map[string]any{})
	r := httpDo(t, ts, "POST", "/api/v1/workflows/echo/executions", adminToken,
		map[string]any{"parameters": map[string]any{"secret": "acme-keyed"}}, "Idempotency-Key", scopeWalkKey)
	r.expectStatus(t, http.StatusAccepted)
	fx.keyed = decode[execSnapshot](t, r.body).ExecutionID
	fx.acme = append(fx.acme, fx.keyed)
	httpWaitStatus(t, ts, adminToken, fx.done, "completed")
	httpWaitStatus(t, ts, adminToken, fx.keyed, "completed")
	httpWaitStatus(t, ts, adminToken, fx.waiting, "waiting")
	fx.member, fx.memberID = fx.connect()
	c := &client{t: t, conn: fx.member}
	if f := c.call("join", "room.join", map[string]any{"room": scopeRoom, "presence": false}); f.Error != nil {
		t.Fatalf("member join: %+v", f.Error)
	}
	return fx
}

// connect opens an acme admin socket and returns it with its connection id.
func (fx *scopeFixture) connect() (*websocket.Conn, string) {
	c := dialRaw(fx.t, fx.ts.url("/api/v1/socket"), http.Header{"Authorization": {"Bearer " + adminToken}})
	f := c.read()
	id := decode[connectedData](fx.t, f.Data).ConnectionID
	if f.Type != "connected" || id == "" {
		fx.t.Fatalf("first frame %+v", f)
	}
	return c.conn, id
}

// memberGets reads the member's next frame: it must be a push of type typ
// whose data holds marker.
func (fx *scopeFixture) memberGets(t *testing.T, typ, marker string) {
	t.Helper()
	f := (&client{t: t, conn: fx.member}).read()
	if f.Type != typ || !strings.Contains(string(f.Data), marker) {
		t.Fatalf("member got %+v (data %s), want %s holding %s", f, f.Data, typ, marker)
	}
}

// start starts an acme execution with the admin token.
func (fx *scopeFixture) start(workflow string, params any) string {
	id := httpStart(fx.t, fx.ts, adminToken, workflow, params)
	fx.acme = append(fx.acme, id)
	return id
}

// fresh starts an acme approval that waits for its signal (for cancels and
// signals that must have an effect).
func (fx *scopeFixture) fresh() string { return fx.start("approval", map[string]any{}) }

// checkWaitingUntouched fails if a foreign request changed fx.waiting.
func (fx *scopeFixture) checkWaitingUntouched(t *testing.T) {
	t.Helper()
	snap := decode[execSnapshot](t, httpDo(t, fx.ts, "GET", "/api/v1/executions/"+fx.waiting, adminToken, nil).body)
	if snap.Status != "waiting" {
		t.Fatalf("acme's waiting execution is now %s after another workspace's request", snap.Status)
	}
}

// Tokens of the walk, as HS256 JWTs (the server's secret is jwtSecret).

func scopeToken(t testing.TB, workspace string, scopes []weft.Scope) string {
	t.Helper()
	list := make([]string, len(scopes))
	for i, s := range scopes {
		list[i] = string(s)
	}
	return authMintJWT(t, jwtSecret, jwt.MapClaims{
		"sub": "walker", "workspace": workspace, "scopes": list, "exp": time.Now().Add(time.Hour).Unix(),
	})
}

// lackingToken has every scope of acme but need (and admin).
func lackingToken(t testing.TB, need weft.Scope) string {
	var scopes []weft.Scope
	for _, s := range weft.KnownScopes {
		if s != need && s != weft.ScopeAdmin {
			scopes = append(scopes, s)
		}
	}
	return scopeToken(t, "acme", scopes)
}

func rightToken(t testing.TB, need weft.Scope) string {
	if need == "" {
		return scopeToken(t, "acme", nil)
	}
	return scopeToken(t, "acme", []weft.Scope{need})
}

func foreignToken(t testing.TB, need weft.Scope) string {
	if need == "" {
		return scopeToken(t, "globex", nil)
	}
	return scopeToken(t, "globex", []weft.Scope{need})
}

// How another workspace's token fares, by kind of service.
const (
	kindExecution  = "execution"  // names an execution: EXECUTION_NOT_FOUND
	kindConnection = "connection" // names a connection: WS_CONNECTION_NOT_FOUND
	kindList       = "list"       // lists the workspace: none of acme's data
	kindGlobal     = "global"     // holds no workspace data: works
)

// wsCase is how the walk exercises one socket service.
type wsCase struct {
	scope weft.Scope // "" = none
	kind  string
	// request is the request payload (built per call: some need a fresh
	// execution).
	request func(fx *scopeFixture) any
	// works checks the right token's frames of the request.
	works func(t *testing.T, fx *scopeFixture, frames []frame)
	// foreign checks another workspace's frames when kind is kindList or
	// kindGlobal.
	foreign func(t *testing.T, fx *scopeFixture, frames []frame)
}

// wsCall dials with token, sends one request and returns its frames.
func wsCall(t *testing.T, ts *testServer, token, service string, req any) []frame {
	t.Helper()
	c := dial(t, ts, token)
	defer c.conn.Close()
	c.request("walk", service, req)
	frames := c.readUntilComplete("walk")
	if service == "room.join" && lastFrame(frames).Error == nil {
		// Leave before closing: a closed socket leaves its rooms only once
		// the server has read the close, which could be after the next
		// case counts the room's members.
		c.call("unjoin", "room.leave", req)
	}
	return frames
}

func lastFrame(frames []frame) frame { return frames[len(frames)-1] }

func expectWSError(t *testing.T, frames []frame, code string) {
	t.Helper()
	f := lastFrame(frames)
	if f.Error == nil || f.Error.Code != code {
		t.Fatalf("last frame %s, want error %s", showFrame(f), code)
	}
	if len(frames) != 1 {
		t.Fatalf("%d frames before the %s error, first %s", len(frames)-1, code, showFrame(frames[0]))
	}
}

// showFrame renders a frame readably for failure messages.
func showFrame(f frame) string {
	out := "id=" + f.ID
	if f.Type != "" {
		out += " type=" + f.Type + " data=" + string(f.Data)
	}
	if f.Response != nil {
		out += " response=" + string(f.Response)
	}
	if f.Error != nil {
		out += " error=" + f.Error.Code + " " + f.Error.Message
	}
	return out
}

func expectWSOK(t *testing.T, frames []frame) frame {
	t.Helper()
	f := lastFrame(frames)
	if f.Error != nil {
		t.Fatalf("error %s: %s", f.Error.Code, f.Error.Message)
	}
	return f
}

func (fx *scopeFixture) isAcme(id string) bool { return slices.Contains(fx.acme, id) }

var wsCases = map[string]wsCase{
	"ping": {
		kind: kindGlobal,
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"pong":true}`) {
				t.Fatalf("ping answered %s", lastFrame(frames).Response)
			}
		},
	},
	"server.info": {
		kind: kindGlobal,
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if p := decode[map[string]any](t, expectWSOK(t, frames).Response)["protocol"]; p != "weft.v1" {
				t.Fatalf("server.info answered %s", lastFrame(frames).Response)
			}
		},
	},
	"workflow.list": {
		scope: weft.ScopeWorkflowsRead, kind: kindGlobal,
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !strings.Contains(string(expectWSOK(t, frames).Response), `"name":"echo"`) {
				t.Fatalf("workflow.list answered %s", lastFrame(frames).Response)
			}
		},
	},
	"workflow.stats": {
		// Stats of approval: acme cancels one before each call (stats_test.go);
		// globex never runs it, so it must see none.
		scope: weft.ScopeWorkflowsRead, kind: kindList,
		request: func(fx *scopeFixture) any {
			fx.cancelApproval()
			return map[string]any{"name": "approval", "period": "hour"}
		},
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			checkAcmeStats(t, expectWSOK(t, frames).Response)
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) {
			checkNoStats(t, expectWSOK(t, frames).Response)
		},
	},
	"workflow.start": {
		// subscribe:false: following the stream needs executions:read too.
		scope: weft.ScopeWorkflowsStart, kind: kindGlobal,
		request: func(*scopeFixture) any {
			return map[string]any{"name": "echo", "parameters": map[string]any{"secret": "acme-keyed"},
				"idempotency_key": scopeWalkKey, "subscribe": false}
		},
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			// The same key in the same workspace: acme's earlier execution.
			if got := decode[execSnapshot](t, expectWSOK(t, frames).Response).ExecutionID; got != fx.keyed {
				t.Fatalf("start with acme's key answered %s, want %s", got, fx.keyed)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, frames []frame) {
			// The key does not cross workspaces: an execution of globex's.
			if got := decode[execSnapshot](t, expectWSOK(t, frames).Response).ExecutionID; got == "" || fx.isAcme(got) {
				t.Fatalf("another workspace's start with acme's key answered %q", got)
			}
		},
	},
	"executions.list": {
		scope: weft.ScopeExecutionsRead, kind: kindList,
		request: func(*scopeFixture) any { return map[string]any{"limit": 1000} },
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if !strings.Contains(string(expectWSOK(t, frames).Response), fx.done) {
				t.Fatalf("acme's list lacks %s: %s", fx.done, lastFrame(frames).Response)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, frames []frame) {
			checkNoAcmeData(t, fx, string(expectWSOK(t, frames).Response))
		},
	},
	"execution.get": {
		scope: weft.ScopeExecutionsRead, kind: kindExecution,
		request: func(fx *scopeFixture) any { return map[string]any{"execution_id": fx.done} },
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if got := decode[execSnapshot](t, expectWSOK(t, frames).Response); got.ExecutionID != fx.done || got.Status != "completed" {
				t.Fatalf("execution.get answered %+v", got)
			}
		},
	},
	"execution.subscribe": {
		scope: weft.ScopeExecutionsRead, kind: kindExecution,
		request: func(fx *scopeFixture) any { return map[string]any{"execution_id": fx.done} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if f := expectWSOK(t, frames); f.Type != "execution_completed" {
				t.Fatalf("subscription ended with %+v", f)
			}
		},
	},
	"execution.cancel": {
		scope: weft.ScopeExecutionsWrite, kind: kindExecution,
		request: func(fx *scopeFixture) any { return map[string]any{"execution_id": fx.fresh()} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"status":"cancelling"}`) {
				t.Fatalf("cancel answered %s", lastFrame(frames).Response)
			}
		},
	},
	"execution.signal": {
		scope: weft.ScopeExecutionsWrite, kind: kindExecution,
		request: func(fx *scopeFixture) any {
			return map[string]any{"execution_id": fx.fresh(), "name": "approve", "payload": map[string]any{"ok": true}}
		},
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"delivered":true}`) {
				t.Fatalf("signal answered %s", lastFrame(frames).Response)
			}
		},
	},
	"execution.replay": {
		scope: weft.ScopeExecutionsRead, kind: kindExecution,
		request: func(fx *scopeFixture) any { return map[string]any{"execution_id": fx.done} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if f := expectWSOK(t, frames); f.Type != "execution_completed" || !strings.Contains(string(f.Data), `"replay":true`) {
				t.Fatalf("replay ended with %+v", f)
			}
		},
	},
	"execution.rerun": {
		scope: weft.ScopeWorkflowsStart, kind: kindExecution,
		request: func(fx *scopeFixture) any {
			return map[string]any{"execution_id": fx.done, "from_step": 1, "subscribe": false}
		},
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if got := decode[map[string]any](t, expectWSOK(t, frames).Response); got["execution_id"] == nil {
				t.Fatalf("rerun answered %s", lastFrame(frames).Response)
			}
		},
	},
	"room.join": {
		// Rooms are per workspace: globex's "lobby" is not acme's.
		scope: weft.ScopeRoomsJoin, kind: kindList,
		request: func(*scopeFixture) any { return map[string]any{"room": scopeRoom} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"room":"lobby","members":2,"presence":true}`) {
				t.Fatalf("join answered %s, want the member and this one", lastFrame(frames).Response)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"room":"lobby","members":1,"presence":true}`) {
				t.Fatalf("another workspace's join answered %s, want only itself", lastFrame(frames).Response)
			}
		},
	},
	"room.leave": {
		scope: weft.ScopeRoomsJoin, kind: kindList,
		request: func(*scopeFixture) any { return map[string]any{"room": scopeRoom} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"room":"lobby","members":1}`) {
				t.Fatalf("leave answered %s, want the member left", lastFrame(frames).Response)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"room":"lobby","members":0}`) {
				t.Fatalf("another workspace's leave answered %s", lastFrame(frames).Response)
			}
		},
	},
	"room.broadcast": {
		scope: weft.ScopeRoomsBroadcast, kind: kindList,
		request: func(*scopeFixture) any {
			return map[string]any{"room": scopeRoom, "message": map[string]any{"note": "ws-broadcast"}}
		},
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"broadcast":true,"delivered_to":1,"subscriber_count":1}`) {
				t.Fatalf("broadcast answered %s", lastFrame(frames).Response)
			}
			// The first thing the member gets: a leak from globex would be here.
			fx.memberGets(t, "room.message", "ws-broadcast")
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"broadcast":true,"delivered_to":0,"subscriber_count":0}`) {
				t.Fatalf("another workspace's broadcast answered %s", lastFrame(frames).Response)
			}
		},
	},
	"room.members": {
		scope: weft.ScopeConnectionsRead, kind: kindList,
		request: func(*scopeFixture) any { return map[string]any{"room": scopeRoom} },
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if !strings.Contains(string(expectWSOK(t, frames).Response), fx.memberID) {
				t.Fatalf("members answered %s, want %s", lastFrame(frames).Response, fx.memberID)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"room":"lobby","members":[]}`) {
				t.Fatalf("another workspace's members answered %s", lastFrame(frames).Response)
			}
		},
	},
	"connections.list": {
		scope: weft.ScopeConnectionsRead, kind: kindList,
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if !strings.Contains(string(expectWSOK(t, frames).Response), fx.memberID) {
				t.Fatalf("connections answered %s, want %s", lastFrame(frames).Response, fx.memberID)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if body := string(expectWSOK(t, frames).Response); strings.Contains(body, fx.memberID) || strings.Contains(body, scopeRoom) {
				t.Fatalf("another workspace's connections show acme's: %s", body)
			}
		},
	},
	"connection.send": {
		scope: weft.ScopeConnectionsAdmin, kind: kindConnection,
		request: func(fx *scopeFixture) any {
			return map[string]any{"connection_id": fx.memberID, "message": map[string]any{"note": "ws-send"}}
		},
		works: func(t *testing.T, fx *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"sent":true}`) {
				t.Fatalf("send answered %s", lastFrame(frames).Response)
			}
			fx.memberGets(t, "message", "ws-send")
		},
	},
	"connection.close": {
		scope: weft.ScopeConnectionsAdmin, kind: kindConnection,
		request: func(fx *scopeFixture) any {
			_, id := fx.connect() // a fresh one: the member stays open
			return map[string]any{"connection_id": id, "reason": "walk"}
		},
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"closed":true}`) {
				t.Fatalf("close answered %s", lastFrame(frames).Response)
			}
		},
	},
	"execution.unsubscribe": {
		// No scope: it reaches only the connection's own requests (see
		// TestUnsubscribeStaysOnItsConnection for the cross-workspace case).
		kind:    kindGlobal,
		request: func(*scopeFixture) any { return map[string]any{"subscription": "nothing-here"} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if !sameJSONValue(expectWSOK(t, frames).Response, `{"unsubscribed":false}`) {
				t.Fatalf("unsubscribe answered %s", lastFrame(frames).Response)
			}
		},
	},
}

// checkNoAcmeData fails if a listing shows any acme execution or value.
func checkNoAcmeData(t *testing.T, fx *scopeFixture, body string) {
	t.Helper()
	for _, id := range fx.acme {
		if strings.Contains(body, id) {
			t.Fatalf("another workspace's list shows acme's %s: %s", id, body)
		}
	}
	if strings.Contains(body, `"secret":"acme"`) {
		t.Fatalf("another workspace's list shows acme's data: %s", body)
	}
}

func TestEveryServiceScopesAndWorkspaces(t *testing.T) {
	ts := startServer(t, "")
	fx := newScopeFixture(t, ts)

	t.Run("socket", func(t *testing.T) {
		real := ws.Services()
		for name := range wsCases {
			if !slices.Contains(real, name) {
				t.Errorf("the walk has an entry for %q, which the socket does not serve", name)
			}
		}
		for _, service := range real {
			tc, ok := wsCases[service]
			if !ok {
				t.Errorf("socket service %q has no entry in wsCases: add one (scope, how it is isolated, what works means)", service)
				continue
			}
			t.Run(service, func(t *testing.T) { walkWS(t, fx, service, tc) })
		}
	})

	t.Run("http", func(t *testing.T) {
		routes := ts.Routes()
		var keys []string
		for _, r := range routes {
			keys = append(keys, r.String())
		}
		for key := range httpCases {
			if !slices.Contains(keys, key) {
				t.Errorf("the walk has an entry for %q, which the server does not serve", key)
			}
		}
		for _, r := range routes {
			tc, ok := httpCases[r.String()]
			if !ok {
				t.Errorf("route %q has no entry in httpCases: add one", r)
				continue
			}
			if r.Service != "" && !slices.Contains(ws.Services(), r.Service) {
				t.Errorf("route %q mirrors %q, which the socket does not serve", r, r.Service)
			}
			t.Run(r.String(), func(t *testing.T) { walkHTTP(t, fx, r.Path, tc) })
		}
	})
}

func walkWS(t *testing.T, fx *scopeFixture, service string, tc wsCase) {
	req := func() any {
		if tc.request == nil {
			return nil
		}
		return tc.request(fx)
	}
	t.Run("lacking_scope", func(t *testing.T) {
		if tc.scope == "" {
			// Open to any authenticated connection: a token with no scope works.
			tc.works(t, fx, wsCall(t, fx.ts, scopeToken(t, "acme", nil), service, req()))
			return
		}
		expectWSError(t, wsCall(t, fx.ts, lackingToken(t, tc.scope), service, req()), "FORBIDDEN")
		fx.checkWaitingUntouched(t)
	})
	t.Run("other_workspace", func(t *testing.T) {
		frames := wsCall(t, fx.ts, foreignToken(t, tc.scope), service, execOf(fx, tc, req))
		switch tc.kind {
		case kindExecution:
			expectWSError(t, frames, "EXECUTION_NOT_FOUND")
			fx.checkWaitingUntouched(t)
		case kindConnection:
			expectWSError(t, frames, "WS_CONNECTION_NOT_FOUND")
			authExpectPing(t, &client{t: t, conn: fx.member}) // still open
		case kindList, kindGlobal:
			if tc.foreign != nil {
				tc.foreign(t, fx, frames)
			} else {
				tc.works(t, fx, frames)
			}
		default:
			t.Fatalf("unknown kind %q", tc.kind)
		}
	})
	t.Run("no_token", func(t *testing.T) {
		c := dialRaw(t, fx.ts.url("/api/v1/socket"), nil)
		c.request("walk", service, req())
		authExpectRefusedInBand(t, c)
	})
	t.Run("right_token", func(t *testing.T) {
		tc.works(t, fx, wsCall(t, fx.ts, rightToken(t, tc.scope), service, req()))
	})
}

// execOf builds the request another workspace sends: for execution-scoped
// services it names acme's waiting execution, so a leak would show as a
// change to it (cancelled, signalled) or as its data; for connection-scoped
// ones acme's member, which must stay open and receive nothing.
func execOf(fx *scopeFixture, tc wsCase, req func() any) any {
	if tc.kind != kindExecution && tc.kind != kindConnection {
		return req()
	}
	r, _ := req().(map[string]any)
	if r == nil {
		r = map[string]any{}
	}
	if tc.kind == kindExecution {
		r["execution_id"] = fx.waiting
	} else {
		r["connection_id"] = fx.memberID
	}
	return r
}

// TestUnsubscribeStaysOnItsConnection: execution.unsubscribe needs no
// scope because it can only stop the caller's own requests; another
// connection (another workspace's, here) naming the same request id
// stops nothing.
func TestUnsubscribeStaysOnItsConnection(t *testing.T) {
	ts := startServer(t, "")
	id := httpStart(t, ts, adminToken, "approval", map[string]any{})
	acme := dial(t, ts, adminToken)
	acme.request("follow", "execution.subscribe", map[string]any{"execution_id": id})
	if f := acme.read(); f.ID != "follow" || f.Error != nil {
		t.Fatalf("subscribe answered %+v", f)
	}
	other := dial(t, ts, otherToken)
	if f := other.call("u", "execution.unsubscribe", map[string]any{"subscription": "follow"}); !sameJSONValue(f.Response, `{"unsubscribed":false}`) {
		t.Fatalf("another connection's unsubscribe answered %+v", f)
	}
	if f := acme.call("u", "execution.unsubscribe", map[string]any{"subscription": "follow"}); !sameJSONValue(f.Response, `{"unsubscribed":true}`) {
		t.Fatalf("the owner's unsubscribe answered %+v", f)
	}
}

// httpReq is one HTTP request of the walk.
type httpReq struct {
	method, path string
	body         any
	header       []string
}

// httpCase is how the walk exercises one route.
type httpCase struct {
	// public routes need no token; the walk checks they answer without one.
	public bool
	// socket routes are the WebSocket upgrade (the socket's services are
	// walked above); the walk checks the upgrade's own refusals.
	socket bool
	scope  weft.Scope
	kind   string
	// requests builds the requests for an execution id (acme's for the
	// right token, acme's waiting one for the foreign token).
	requests func(fx *scopeFixture, execID string) []httpReq
	works    func(t *testing.T, fx *scopeFixture, req httpReq, r httpResult)
	foreign  func(t *testing.T, fx *scopeFixture, r httpResult)
}

func expectHTTPOK(t *testing.T, r httpResult, status int) {
	t.Helper()
	r.expectStatus(t, status)
}

var httpCases = map[string]httpCase{
	"GET /api/v1/socket":        {socket: true},
	"GET /ws":                   {socket: true},
	"GET /healthz":              {public: true},
	"GET /readyz":               {public: true},
	"GET /metrics":              {public: true},
	"GET /api/v1/openapi.json":  {public: true},
	"GET /api/v1/openapi.yaml":  {public: true},
	"GET /api/v1/asyncapi.yaml": {public: true},

	"GET /api/v1/workflows": {
		scope: weft.ScopeWorkflowsRead, kind: kindGlobal,
		requests: func(*scopeFixture, string) []httpReq { return []httpReq{{method: "GET", path: "/api/v1/workflows"}} },
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !strings.Contains(string(r.body), `"name":"echo"`) {
				t.Fatalf("workflows: %s", r.body)
			}
		},
	},
	"GET /api/v1/workflows/{name}/stats": {
		scope: weft.ScopeWorkflowsRead, kind: kindList,
		requests: func(fx *scopeFixture, _ string) []httpReq {
			fx.cancelApproval()
			return []httpReq{{method: "GET", path: "/api/v1/workflows/approval/stats?period=hour"}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			checkAcmeStats(t, r.body)
		},
		foreign: func(t *testing.T, _ *scopeFixture, r httpResult) {
			expectHTTPOK(t, r, 200)
			checkNoStats(t, r.body)
		},
	},
	"POST /api/v1/workflows/{name}/executions": {
		scope: weft.ScopeWorkflowsStart, kind: kindGlobal,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "POST", path: "/api/v1/workflows/echo/executions",
				body: map[string]any{"parameters": map[string]any{"secret": "acme-keyed"}}, header: []string{"Idempotency-Key", scopeWalkKey}}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200) // the key was seen: acme's earlier execution
			if got := decode[execSnapshot](t, r.body).ExecutionID; got != fx.keyed {
				t.Fatalf("start with acme's key answered %s, want %s", got, fx.keyed)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, r httpResult) {
			// An execution of globex's: new (202), or the one globex's
			// socket start made with the same key and parameters (200).
			if r.status != 200 && r.status != 202 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			if got := decode[execSnapshot](t, r.body).ExecutionID; got == "" || fx.isAcme(got) {
				t.Fatalf("another workspace's start with acme's key answered %q", got)
			}
		},
	},
	"GET /api/v1/executions": {
		scope: weft.ScopeExecutionsRead, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{
				{method: "GET", path: "/api/v1/executions?limit=1000"},
				{method: "GET", path: "/api/v1/executions?workflow=echo&status=completed"},
			}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !strings.Contains(string(r.body), fx.done) {
				t.Fatalf("acme's list lacks %s: %s", fx.done, r.body)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, r httpResult) {
			expectHTTPOK(t, r, 200)
			checkNoAcmeData(t, fx, string(r.body))
		},
	},
	"GET /api/v1/executions/{id}": {
		scope: weft.ScopeExecutionsRead, kind: kindExecution,
		requests: func(fx *scopeFixture, id string) []httpReq {
			return []httpReq{{method: "GET", path: "/api/v1/executions/" + id}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if got := decode[execSnapshot](t, r.body); got.ExecutionID != fx.done {
				t.Fatalf("get answered %s", r.body)
			}
		},
	},
	"GET /api/v1/executions/{id}/events": {
		scope: weft.ScopeExecutionsRead, kind: kindExecution,
		requests: func(fx *scopeFixture, id string) []httpReq {
			return []httpReq{
				{method: "GET", path: "/api/v1/executions/" + id + "/events"},
				{method: "GET", path: "/api/v1/executions/" + id + "/events?after_seq=1", header: []string{"Accept", "text/event-stream"}},
			}
		},
		works: func(t *testing.T, fx *scopeFixture, req httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if len(req.header) > 0 { // SSE of a completed execution: to its end
				if !strings.HasPrefix(string(r.body), ": following") || !strings.Contains(string(r.body), "event: execution_completed") || strings.Contains(string(r.body), "event: execution_started") {
					t.Fatalf("SSE body %s", r.body)
				}
				return
			}
			if lines := parseLines(t, r.body); lines[0].Type != "execution_started" || lines[len(lines)-1].Type != "execution_completed" {
				t.Fatalf("history %s", r.body)
			}
		},
	},
	"POST /api/v1/executions/{id}/cancel": {
		scope: weft.ScopeExecutionsWrite, kind: kindExecution,
		requests: func(fx *scopeFixture, id string) []httpReq {
			if id == fx.done {
				id = fx.fresh()
			}
			return []httpReq{{method: "POST", path: "/api/v1/executions/" + id + "/cancel", body: map[string]any{"reason": "walk"}}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !sameJSONValue(r.body, `{"status":"cancelling"}`) {
				t.Fatalf("cancel answered %s", r.body)
			}
		},
	},
	"POST /api/v1/executions/{id}/signals/{name}": {
		scope: weft.ScopeExecutionsWrite, kind: kindExecution,
		requests: func(fx *scopeFixture, id string) []httpReq {
			if id == fx.done {
				id = fx.fresh()
			}
			return []httpReq{{method: "POST", path: "/api/v1/executions/" + id + "/signals/approve", body: map[string]any{"ok": true}}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !sameJSONValue(r.body, `{"delivered":true}`) {
				t.Fatalf("signal answered %s", r.body)
			}
		},
	},
}

func init() {
	httpCases["POST /api/v1/rooms/{room}/broadcast"] = httpCase{
		scope: weft.ScopeRoomsBroadcast, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "POST", path: "/api/v1/rooms/" + scopeRoom + "/broadcast", body: map[string]any{"message": map[string]any{"note": "http-broadcast"}}}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !sameJSONValue(r.body, `{"broadcast":true,"delivered_to":1,"subscriber_count":1}`) {
				t.Fatalf("broadcast answered %s", r.body)
			}
			fx.memberGets(t, "room.message", "http-broadcast")
		},
		foreign: func(t *testing.T, _ *scopeFixture, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !sameJSONValue(r.body, `{"broadcast":true,"delivered_to":0,"subscriber_count":0}`) {
				t.Fatalf("another workspace's broadcast answered %s", r.body)
			}
		},
	}
	httpCases["GET /api/v1/connections"] = httpCase{
		scope: weft.ScopeConnectionsRead, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "GET", path: "/api/v1/connections"}}
		},
		works: func(t *testing.T, fx *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, 200)
			if !strings.Contains(string(r.body), fx.memberID) || !strings.Contains(string(r.body), `"rooms":["lobby"]`) {
				t.Fatalf("connections answered %s, want %s in lobby", r.body, fx.memberID)
			}
		},
		foreign: func(t *testing.T, fx *scopeFixture, r httpResult) {
			expectHTTPOK(t, r, 200)
			if strings.Contains(string(r.body), fx.memberID) || strings.Contains(string(r.body), scopeRoom) {
				t.Fatalf("another workspace's connections show acme's: %s", r.body)
			}
		},
	}
}

func (q httpReq) do(t *testing.T, ts *testServer, token string) httpResult {
	t.Helper()
	return httpDo(t, ts, q.method, q.path, token, q.body, q.header...)
}

func walkHTTP(t *testing.T, fx *scopeFixture, path string, tc httpCase) {
	switch {
	case tc.public:
		// Public routes are GETs without wildcards; a token, right or
		// wrong, changes nothing.
		for _, token := range []string{"", "tok-nobody", adminToken} {
			if r := httpDo(t, fx.ts, "GET", path, token, nil); r.status != http.StatusOK {
				t.Fatalf("GET %s with token %q: %d %s", path, token, r.status, r.body)
			}
		}
		return
	case tc.socket:
		// The upgrade: wrong credentials are refused before it; right ones
		// connect. (Without credentials the upgrade is accepted and the
		// first frame must authenticate: the socket walk checks that for
		// every service.)
		conn, resp, err := authDial(t, fx.ts.url(path), http.Header{"Authorization": {"Bearer tok-nobody"}}, nil)
		authExpect401(t, conn, resp, err)
		c := dialRaw(t, fx.ts.url(path), http.Header{"Authorization": {"Bearer " + scopeToken(t, "acme", nil)}})
		if f := c.read(); f.Type != "connected" {
			t.Fatalf("first frame %+v, want connected", f)
		}
		return
	}
	t.Run("lacking_scope", func(t *testing.T) {
		for _, q := range tc.requests(fx, fx.done) {
			q.do(t, fx.ts, lackingToken(t, tc.scope)).expectError(t, http.StatusForbidden, "FORBIDDEN")
		}
		fx.checkWaitingUntouched(t)
	})
	t.Run("other_workspace", func(t *testing.T) {
		target := fx.done
		if tc.kind == kindExecution {
			target = fx.waiting
		}
		for _, q := range tc.requests(fx, target) {
			r := q.do(t, fx.ts, foreignToken(t, tc.scope))
			switch tc.kind {
			case kindExecution:
				r.expectError(t, http.StatusNotFound, "EXECUTION_NOT_FOUND")
				if strings.Contains(string(r.body), "approval") {
					t.Fatalf("the refusal leaks acme's data: %s", r.body)
				}
			case kindList, kindGlobal:
				if tc.foreign != nil {
					tc.foreign(t, fx, r)
				} else {
					tc.works(t, fx, q, r)
				}
			}
		}
		fx.checkWaitingUntouched(t)
	})
	t.Run("no_token", func(t *testing.T) {
		for _, q := range tc.requests(fx, fx.done) {
			q.do(t, fx.ts, "").expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
		}
	})
	t.Run("wrong_token", func(t *testing.T) {
		for _, q := range tc.requests(fx, fx.done) {
			q.do(t, fx.ts, "tok-nobody").expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED")
		}
	})
	t.Run("right_token", func(t *testing.T) {
		for _, q := range tc.requests(fx, fx.done) {
			tc.works(t, fx, q, q.do(t, fx.ts, rightToken(t, tc.scope)))
		}
	})
}
