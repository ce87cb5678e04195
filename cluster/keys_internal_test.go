package cluster

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// validKey is nats.go's rule for KV keys.
var validKey = regexp.MustCompile(`\A[-/_=\.a-zA-Z0-9]+\z`)

func TestNodeKey(t *testing.T) {
	tests := []struct{ id, want string }{
		{"node-1", "node-1"},
		{"weft_a", "weft_a"},
		{"host:8080", "host=3A8080"},
		{"10.0.0.1:8080", "10=2E0=2E0=2E1=3A8080"},
		{"a=3A", "a=3D3A"}, // the escape character is escaped: no collision with "a:"
		{"a:", "a=3A"},
		{"é", "=C3=A9"},
	}
	for _, tt := range tests {
		if got := nodeKey(tt.id); got != tt.want {
			t.Errorf("nodeKey(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestParseLeaseKey(t *testing.T) {
	tests := []struct {
		key    string
		want   int
		wantOK bool
	}{
		{"p.0", 0, true},
		{"p.63", 63, true},
		{"p.64", 0, false}, // beyond the partition count
		{"p.", 0, false},
		{"p.07", 0, false}, // not how leaseKey writes 7
		{"p.-1", 0, false},
		{"p.1a", 0, false},
		{"q.1", 0, false},
		{"p.999999", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseLeaseKey(tt.key, 64)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseLeaseKey(%q) = %d, %v, want %d, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
	for p := range 64 {
		if got, ok := parseLeaseKey(leaseKey(p), 64); !ok || got != p {
			t.Errorf("parseLeaseKey(leaseKey(%d)) = %d, %v", p, got, ok)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{NodeID: "n1"}, ""},
		{"no node id", Config{}, "node id"},
		{"too many partitions", Config{NodeID: "n1", Partitions: MaxPartitions + 1}, "partitions"},
		{"negative partitions", Config{NodeID: "n1", Partitions: -1}, "partitions"},
		{"short TTL", Config{NodeID: "n1", LeaseTTL: 500 * time.Millisecond, RenewInterval: 100 * time.Millisecond}, "lease TTL"},
		{"renew too slow", Config{NodeID: "n1", LeaseTTL: 3 * time.Second, RenewInterval: 2 * time.Second}, "renew interval"},
		{"replicas", Config{NodeID: "n1", Replicas: 7}, "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Partitions != DefaultPartitions || got.LeaseTTL != DefaultLeaseTTL || got.RenewInterval != DefaultRenewInterval || got.Replicas != 1 {
					t.Errorf("defaults = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one about %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"holder", `{"node":"n1","instance":"i1"}`, false},
		{"holder without instance", `{"node":"n1"}`, true},
		{"not json", `n1`, true},
		{"wrong type", `{"node":1,"instance":"i"}`, true},
		{"too long", `{"node":"` + strings.Repeat("x", maxValueLen) + `","instance":"i"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeHolder([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Errorf("decodeHolder(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			}
		})
	}
	m := Member{ID: "n1", Address: "127.0.0.1:8080", StartedAt: time.Unix(1700000000, 0).UTC(), Instance: "i1"}
	got, err := decodeMember(mustEncode(m))
	if err != nil || got != m {
		t.Errorf("decodeMember(encode(m)) = %+v, %v, want %+v", got, err, m)
	}
}

// Bucket values can be written by anyone with access to the NATS account:
// decoding any bytes returns a value or an error, never a panic, and what
// is accepted re-encodes to something that decodes the same.
func FuzzDecodeHolder(f *testing.F) {
	f.Add([]byte(`{"node":"n1","instance":"i1"}`))
	f.Add([]byte(`{"id":"n1","instance":"i1","started_at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := decodeHolder(b); err == nil {
			if h2, err := decodeHolder(mustEncode(h)); err != nil || h2 != h {
				t.Errorf("holder %+v does not round-trip: %+v, %v", h, h2, err)
			}
		}
		if m, err := decodeMember(b); err == nil && (m.ID == "" || m.Instance == "") {
			t.Errorf("member %+v accepted without id or instance", m)
		}
	})
}

// Any node id maps to a valid KV key, and distinct ids to distinct keys.
func FuzzNodeKey(f *testing.F) {
	f.Add("host:8080", "host=3A8080")
	f.Add("a", "b")
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" {
			return
		}
		ka, kb := nodeKey(a), nodeKey(b)
		if !validKey.MatchString(ka) || strings.HasPrefix(ka, ".") {
			t.Errorf("nodeKey(%q) = %q, not a valid KV key", a, ka)
		}
		if a != b && ka == kb {
			t.Errorf("nodeKey(%q) == nodeKey(%q) == %q", a, b, ka)
		}
	})
}
