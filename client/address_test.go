package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/client"
)

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in, http, socket string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"127.0.0.1:8080", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"  localhost:8080\n", "http://localhost:8080", "ws://localhost:8080/api/v1/socket"},
		{"localhost", "http://localhost", "ws://localhost/api/v1/socket"},
		{"[::1]:8080", "http://[::1]:8080", "ws://[::1]:8080/api/v1/socket"},
		{"ws://127.0.0.1:8080/api/v1/socket", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"ws://127.0.0.1:8080/api/v1/socket/", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"ws://127.0.0.1:8080", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"http://127.0.0.1:8080/api/v1/socket", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/socket"},
		{"https://weft.example.com", "https://weft.example.com", "wss://weft.example.com/api/v1/socket"},
		{"wss://weft.example.com:8443/api/v1/socket", "https://weft.example.com:8443", "wss://weft.example.com:8443/api/v1/socket"},
		{"HTTPS://Weft.Example.COM/", "https://weft.example.com", "wss://weft.example.com/api/v1/socket"},
		{"WS://127.0.0.1:9", "http://127.0.0.1:9", "ws://127.0.0.1:9/api/v1/socket"},
		// A path is the prefix of a server behind a reverse proxy.
		{"https://example.com/weft", "https://example.com/weft", "wss://example.com/weft/api/v1/socket"},
		{"wss://example.com/weft/api/v1/socket", "https://example.com/weft", "wss://example.com/weft/api/v1/socket"},
		{"example.com:443/weft/", "http://example.com:443/weft", "ws://example.com:443/weft/api/v1/socket"},
		{"http://h:65535", "http://h:65535", "ws://h:65535/api/v1/socket"},
		{"http://[FE80::1%25Eth0]:80", "http://[FE80::1%25Eth0]:80", "ws://[FE80::1%25Eth0]:80/api/v1/socket"},
	} {
		t.Run(c.in, func(t *testing.T) {
			a, err := client.ParseAddress(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if a.HTTP() != c.http || a.Socket() != c.socket || a.String() != c.http {
				t.Errorf("got HTTP %s, socket %s; want %s, %s", a.HTTP(), a.Socket(), c.http, c.socket)
			}
		})
	}
}

func TestParseAddressRefuses(t *testing.T) {
	for _, c := range []struct{ in, why string }{
		{"", "empty"},
		{"   ", "empty"},
		{"ftp://127.0.0.1:8080", `scheme "ftp"`},
		{"file:///tmp/sock", `scheme "file"`},
		{"unix:///run/weft.sock", `scheme "unix"`},
		{"http://", "no host"},
		{"http://:8080", "no host"},
		{"http://127.0.0.1:", "no port after"},
		{"127.0.0.1:0", "port 0"},
		{"127.0.0.1:65536", "port 65536"},
		{"127.0.0.1:http", "not a URL"},
		{"http://alice:secret@127.0.0.1:8080", "user or password"},
		{"ws://127.0.0.1:8080/api/v1/socket?token=abc", "has a query"},
		{"http://127.0.0.1:8080/?", "has a query"},
		{"http://127.0.0.1:8080/#top", "fragment"},
		{"http://a b:8080", "not a URL"},
		{"http://127.0.0.1:8080/api/v1/socket/api/v1/socket", "repeats /api/v1/socket"},
		{"mailto:ops@example.com", "user or password"},
	} {
		t.Run(c.in, func(t *testing.T) {
			_, err := client.ParseAddress(c.in)
			var e *client.Error
			if !errors.As(err, &e) || e.Code != client.CodeInvalidRequest || !strings.Contains(e.Message, c.why) || !strings.Contains(e.Message, "server address") {
				t.Errorf("ParseAddress(%q) = %v, want INVALID_REQUEST saying %q", c.in, err, c.why)
			}
		})
	}
}

// FuzzParseAddress: any input is an address or an INVALID_REQUEST, never a
// panic; an accepted address is a fixed point of both its forms.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8080", "127.0.0.1:8080", "[::1]:8080", "wss://h/p/api/v1/socket", "https://h/weft/",
		"ftp://x", "http://u:p@h", "h:99999", "ws://h?x=1", "http://[fe80::1%25eth0]:80/", "//h", ":", "http://h:/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := client.ParseAddress(s)
		if err != nil {
			if client.ErrorCode(err) != client.CodeInvalidRequest {
				t.Fatalf("ParseAddress(%q): %v is not INVALID_REQUEST", s, err)
			}
			return
		}
		if a.Host == "" || strings.HasSuffix(a.Prefix, "/") || strings.HasSuffix(a.Prefix, client.SocketPath) {
			t.Fatalf("ParseAddress(%q) = %+v", s, a)
		}
		if !strings.HasSuffix(a.Socket(), client.SocketPath) {
			t.Fatalf("socket %q", a.Socket())
		}
		for _, form := range []string{a.HTTP(), a.Socket()} {
			b, err := client.ParseAddress(form)
			if err != nil || b != a {
				t.Fatalf("ParseAddress(%q) = %+v, %v; want %+v (from %q)", form, b, err, a, s)
			}
		}
	})
}

// TestDialAcceptsEveryAddressForm: the same server through each spelling.
func TestDialAcceptsEveryAddressForm(t *testing.T) {
	ts := startServer(t, "", "")
	for _, addr := range []string{
		ts.Addr(), "http://" + ts.Addr(), "http://" + ts.Addr() + "/", "ws://" + ts.Addr(), ts.url(),
	} {
		c := dial(t, addr, client.Options{})
		if err := c.Ping(testCtx(t)); err != nil {
			t.Errorf("%s: ping: %v", addr, err)
		}
		if got, want := c.Address().HTTP(), "http://"+ts.Addr(); got != want {
			t.Errorf("%s: Address().HTTP() = %s, want %s", addr, got, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, "ftp://"+ts.Addr(), client.Options{Token: adminToken}); client.ErrorCode(err) != client.CodeInvalidRequest {
		t.Errorf("Dial of an ftp address: %v, want INVALID_REQUEST", err)
	}
}

// TestUserAgentReachesTheAudit: Options.UserAgent is sent on the upgrade,
// and the server's audit tells the CLI's apart by it.
func TestUserAgentReachesTheAudit(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	cli := dial(t, ts.url(), client.Options{UserAgent: "weft-cli/test"})
	if _, err := cli.Cancel(ctx, "exec_from_cli", ""); client.ErrorCode(err) != client.CodeExecutionNotFound {
		t.Fatalf("cancel: %v", err)
	}
	app := dial(t, ts.url(), client.Options{})
	if _, err := app.Cancel(ctx, "exec_from_app", ""); client.ErrorCode(err) != client.CodeExecutionNotFound {
		t.Fatalf("cancel: %v", err)
	}
	want := map[string]string{"exec_from_cli": "cli", "exec_from_app": "ws"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var page struct {
			Items []struct {
				Target    string `json:"target"`
				Transport string `json:"transport"`
			} `json:"items"`
		}
		if err := app.Call(ctx, "audit.list", map[string]any{"action": "execution.cancel"}, &page); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range page.Items {
			got[r.Target] = r.Transport
		}
		if got["exec_from_cli"] == want["exec_from_cli"] && got["exec_from_app"] == want["exec_from_app"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit transports %v, want %v", got, want)
		}
	}
}

// TestParseAddressSharedTable: the cases every weft client is tested on
// (clients/testdata/addresses.json; the JS client reads the same file).
func TestParseAddressSharedTable(t *testing.T) {
	raw, err := os.ReadFile("../clients/testdata/addresses.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases []struct {
			In      string `json:"in"`
			Socket  string `json:"socket"`
			HTTP    string `json:"http"`
			Invalid string `json:"invalid"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Cases) < 20 {
		t.Fatalf("%d cases", len(table.Cases))
	}
	for _, c := range table.Cases {
		a, err := client.ParseAddress(c.In)
		switch {
		case c.Invalid != "" && client.ErrorCode(err) != client.CodeInvalidRequest:
			t.Errorf("%q (%s): got %+v, %v; want INVALID_REQUEST", c.In, c.Invalid, a, err)
		case c.Invalid == "" && (err != nil || a.Socket() != c.Socket || a.HTTP() != c.HTTP):
			t.Errorf("%q: got socket %s, HTTP %s, %v; want %s, %s", c.In, a.Socket(), a.HTTP(), err, c.Socket, c.HTTP)
		}
	}
}
