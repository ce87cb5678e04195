package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServerAddressForms: every client command takes --server in each
// spelling README's "Server address" lists (the socket commands, the
// schedules and artifacts ones, and export over HTTP), and refuses a bad
// one as a usage error saying why.
func TestServerAddressForms(t *testing.T) {
	s := startOpsServer(t, t.TempDir())
	id := startDetached(t, s, "echo", `{"a":1}`)
	host := s.srv.Addr()
	for _, server := range []string{host, "http://" + host + "/", "HTTP://" + host, "ws://" + host + "/api/v1/socket", "ws://" + host} {
		for _, args := range [][]string{
			{"workflows", "ls"}, {"executions", "show", id}, {"schedules", "ls"}, {"artifacts", "ls"},
			{"export", id, "-o", filepath.Join(t.TempDir(), "x.jsonl")},
		} {
			args = append(args, "--server", server)
			if code, out, errOut := s.weft(t, args...); code != exitOK {
				t.Errorf("weft %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
			}
		}
	}
	for _, c := range []struct{ server, why string }{
		{"ftp://" + host, `scheme "ftp"`},
		{"http://olga:pw@" + host, "user or password"},
		{"ws://" + host + "/api/v1/socket?token=tok-ops", "has a query"},
		{host + ":1", "not a URL"},
		{"", "empty"},
	} {
		for _, args := range [][]string{{"workflows", "ls"}, {"schedules", "ls"}, {"artifacts", "ls"}, {"export", id}, {"bench", "stream"}} {
			args = append(args, "--server", c.server)
			code, _, errOut := s.weft(t, args...)
			if code != exitUsage || !strings.Contains(errOut, "--server: server address") || !strings.Contains(errOut, c.why) {
				t.Errorf("weft %s: exit %d, want 2 saying %q\n%s", strings.Join(args, " "), code, c.why, errOut)
			}
		}
	}
}
