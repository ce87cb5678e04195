package actors_test

import (
	"testing"

	"github.com/weft-run/weft/actors"
)

// The per-address limits of both surfaces count a client by its IP, or
// the /64 of an IPv6 address.
func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":          "127.0.0.1",
		"[::ffff:10.1.2.3]:80":    "10.1.2.3",
		"[2001:db8:1:2:3::4]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::9]:1":  "2001:db8:1:2::/64",
		"pipe":                    "pipe",
	} {
		if got := actors.AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
