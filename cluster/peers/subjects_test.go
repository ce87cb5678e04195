package peers

import (
	"strings"
	"testing"
	"unicode"
)

func TestToken(t *testing.T) {
	long := strings.Repeat("a", maxPlainToken)
	tests := []struct {
		name, in, want string
	}{
		{"plain", "acme", "acme"},
		{"dashes and underscores", "team-1_b", "team-1_b"},
		{"longest plain", long, long},
		{"too long", long + "a", "~" + strings.Repeat("YWFh", 21) + "YWE"},
		{"empty", "", "~"},
		{"dot", "a.b", "~YS5i"},
		{"space", "a b", "~YSBi"},
		{"star", "*", "~Kg"},
		{"gt", ">", "~Pg"},
		{"tilde first", "~YS5i", "~fllTNWk"},
		{"non-ASCII", "café", "~Y2Fmw6k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Token(tt.in)
			if got != tt.want {
				t.Errorf("Token(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkToken(t, got)
		})
	}
}

// checkToken fails unless tok is one valid NATS subject token.
func checkToken(t *testing.T, tok string) {
	t.Helper()
	if tok == "" || strings.ContainsAny(tok, ".*>") || strings.IndexFunc(tok, unicode.IsSpace) >= 0 {
		t.Errorf("%q is not a subject token", tok)
	}
}

func TestSubjects(t *testing.T) {
	if got, want := roomSubject("acme", "lobby"), "weft.room.acme.lobby"; got != want {
		t.Errorf("roomSubject = %q, want %q", got, want)
	}
	// A workspace with a dot must not reach another workspace's room.
	if a, b := roomSubject("a.b", "c"), roomSubject("a", "b.c"); a == b {
		t.Errorf("two rooms share the subject %q", a)
	}
	if got, want := workspaceSubject("a b"), "weft.ws.~YSBi"; got != want {
		t.Errorf("workspaceSubject = %q, want %q", got, want)
	}
}

// FuzzToken: any name gives one valid token, and different names give
// different tokens.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "acme", "a.b", "~x", "*", ">", " ", "é"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		checkToken(t, Token(a))
		if a != b && Token(a) == Token(b) {
			t.Errorf("Token(%q) == Token(%q) == %q", a, b, Token(a))
		}
	})
}
