package client

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// SocketPath is where a weft server serves its socket (PROTOCOL.md
// section 2), below any prefix a reverse proxy adds.
const SocketPath = "/api/v1/socket"

// Address is a weft server's address in its one normal form. Every way of
// naming a server (the CLI's --server, Dial, the examples) goes through
// ParseAddress, so they all accept the same spellings and refuse the same
// mistakes.
type Address struct {
	TLS    bool   // https / wss
	Host   string // host[:port] as in a URL, lower case; an IPv6 host in brackets
	Prefix string // the path a proxy serves weft under ("" or "/weft"), no trailing slash
}

// ParseAddress reads a server address. Accepted (scheme case-insensitive,
// surrounding spaces ignored):
//
//	http://host:port          https://host:port
//	ws://host:port/api/v1/socket   wss://host:port/api/v1/socket
//	host:port                 (no scheme: http)
//
// The scheme only says whether TLS is used: ws and http name the same
// server, and /api/v1/socket may be given or left out with any scheme. A
// path other than that is the prefix of a server behind a reverse proxy
// (https://example.com/weft: socket at wss://example.com/weft/api/v1/socket).
// The port may be left out (80, or 443 with TLS). Refused with an *Error
// coded INVALID_REQUEST: an empty address, another scheme, a user or
// password, a query or fragment (the token is never part of the address),
// a port that is not 1-65535, no host.
func ParseAddress(s string) (Address, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return Address{}, addressError(s, "empty; want http://host:port, ws://host:port/api/v1/socket or host:port")
	}
	if strings.Contains(raw, "#") {
		return Address{}, addressError(s, "has a fragment (#...): the address is scheme://host:port[/prefix] only")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(asHTTP(raw))
	if err != nil {
		return Address{}, addressError(s, "not a URL: "+unwrapURLError(err))
	}
	var a Address
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
	case "https", "wss":
		a.TLS = true
	default:
		return Address{}, addressError(s, fmt.Sprintf("scheme %q: want http, https, ws or wss", u.Scheme))
	}
	if err := checkURLParts(u); err != nil {
		return Address{}, addressError(s, err.Error())
	}
	a.Host = hostOf(u)
	a.Prefix = strings.TrimRight(u.EscapedPath(), "/")
	a.Prefix = strings.TrimRight(strings.TrimSuffix(a.Prefix, SocketPath), "/")
	if strings.HasSuffix(a.Prefix, SocketPath) {
		return Address{}, addressError(s, "the path repeats "+SocketPath)
	}
	return a, nil
}

// asHTTP spells a ws or wss address as http or https: url.Parse checks
// the port only for those schemes, and ws://h::1 or wss://h:8:8 must be
// refused as http://h::1 is.
func asHTTP(raw string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	switch strings.ToLower(scheme) {
	case "ws":
		return "http://" + rest
	case "wss":
		return "https://" + rest
	}
	return raw
}

// checkURLParts refuses what an address must not have, and a bad host or
// port.
func checkURLParts(u *url.URL) error {
	switch {
	case u.Opaque != "":
		return fmt.Errorf("want scheme://host:port, not %s:%s", u.Scheme, u.Opaque)
	case u.User != nil:
		return fmt.Errorf("has a user or password: give the token with --token or Options.Token, never in the address")
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("has a query (?%s): the address is scheme://host:port[/prefix] only; give the token with --token or Options.Token", u.RawQuery)
	case u.Hostname() == "":
		return fmt.Errorf("no host")
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("no port after ':'")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s: want 1 to 65535", p)
		}
	}
	return nil
}

// hostOf is u's host[:port] as a URL spells it: lower case, but an IPv6
// zone (fe80::1%eth0, whose interface name is case-sensitive) kept as it
// is and escaped.
func hostOf(u *url.URL) string {
	if strings.Contains(u.Host, "%") {
		return strings.ReplaceAll(u.Host, "%", "%25")
	}
	return strings.ToLower(u.Host)
}

// unwrapURLError is url.Parse's complaint without the URL it repeats.
func unwrapURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

func addressError(given, why string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("server address %q: %s", given, why)}
}

// HTTP is the root of the server's HTTP plane: http[s]://host[:port][prefix].
func (a Address) HTTP() string {
	scheme := "http"
	if a.TLS {
		scheme = "https"
	}
	return scheme + "://" + a.Host + a.Prefix
}

// Socket is the server's socket URL: ws[s]://host[:port][prefix]/api/v1/socket.
func (a Address) Socket() string {
	scheme := "ws"
	if a.TLS {
		scheme = "wss"
	}
	return scheme + "://" + a.Host + a.Prefix + SocketPath
}

// String is the address as an operator writes it (its HTTP form).
func (a Address) String() string { return a.HTTP() }
