package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weft-run/weft/transport/auth"
)

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		authz     string
		protocols []string // one Sec-WebSocket-Protocol line each
		want      auth.Credentials
		wantOK    bool
	}{
		{name: "none", target: "/ws"},
		{name: "none offers weft.v1", target: "/ws", protocols: []string{"weft.v1"},
			want: auth.Credentials{Subprotocol: "weft.v1"}},
		{name: "bearer", target: "/ws", authz: "Bearer tok1",
			want: auth.Credentials{Token: "tok1", Method: "bearer"}, wantOK: true},
		{name: "bearer scheme case", target: "/ws", authz: "bEARER   tok1 ",
			want: auth.Credentials{Token: "tok1", Method: "bearer"}, wantOK: true},
		{name: "bearer empty falls through", target: "/ws?token=q", authz: "Bearer ",
			want: auth.Credentials{Token: "q", Method: "query"}, wantOK: true},
		{name: "basic ignored", target: "/ws?token=q", authz: "Basic dXNlcjpwdw==",
			want: auth.Credentials{Token: "q", Method: "query"}, wantOK: true},
		{name: "bearer with weft.v1", target: "/ws", authz: "Bearer tok1", protocols: []string{"weft.v1"},
			want: auth.Credentials{Token: "tok1", Method: "bearer", Subprotocol: "weft.v1"}, wantOK: true},
		{name: "query", target: "/ws?token=tok%2B2",
			want: auth.Credentials{Token: "tok+2", Method: "query"}, wantOK: true},
		{name: "query empty", target: "/ws?token="},
		{name: "subprotocol with weft.v1", target: "/ws", protocols: []string{"weft.v1, x-api-key.tok3"},
			want: auth.Credentials{Token: "tok3", Method: "subprotocol", Subprotocol: "weft.v1"}, wantOK: true},
		{name: "subprotocol after weft.v1 order", target: "/ws", protocols: []string{"x-api-key.tok3,weft.v1"},
			want: auth.Credentials{Token: "tok3", Method: "subprotocol", Subprotocol: "weft.v1"}, wantOK: true},
		{name: "subprotocol alone", target: "/ws", protocols: []string{"x-api-key.tok3"},
			want: auth.Credentials{Token: "tok3", Method: "subprotocol", Subprotocol: "x-api-key.tok3"}, wantOK: true},
		{name: "subprotocol separate lines", target: "/ws", protocols: []string{"x-api-key.tok3", "weft.v1"},
			want: auth.Credentials{Token: "tok3", Method: "subprotocol", Subprotocol: "weft.v1"}, wantOK: true},
		{name: "subprotocol empty token", target: "/ws", protocols: []string{"x-api-key."}},
		{name: "subprotocol prefix is case-sensitive", target: "/ws", protocols: []string{"X-API-KEY.tok3"}},
		{name: "other protocol only", target: "/ws", protocols: []string{"chat"}},
		{name: "header beats query and subprotocol", target: "/ws?token=q", authz: "Bearer h",
			protocols: []string{"x-api-key.s"},
			want:      auth.Credentials{Token: "h", Method: "bearer", Subprotocol: "x-api-key.s"}, wantOK: true},
		{name: "query beats subprotocol", target: "/ws?token=q", protocols: []string{"weft.v1, x-api-key.s"},
			want: auth.Credentials{Token: "q", Method: "query", Subprotocol: "weft.v1"}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			for _, p := range tt.protocols {
				r.Header.Add("Sec-WebSocket-Protocol", p)
			}
			got, ok := auth.FromRequest(r)
			if ok != tt.wantOK || got != tt.want {
				t.Fatalf("FromRequest = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
			if sel := auth.SelectSubprotocol(r); sel != tt.want.Subprotocol {
				t.Fatalf("SelectSubprotocol = %q, want %q", sel, tt.want.Subprotocol)
			}
		})
	}
}

func TestFromRequestNil(t *testing.T) {
	if c, ok := auth.FromRequest(nil); ok || c != (auth.Credentials{}) {
		t.Fatalf("FromRequest(nil) = %+v, %v", c, ok)
	}
	if s := auth.SelectSubprotocol(nil); s != "" {
		t.Fatalf("SelectSubprotocol(nil) = %q", s)
	}
	if _, ok := auth.FromRequest(&http.Request{}); ok {
		t.Fatal("empty request has credentials")
	}
}
