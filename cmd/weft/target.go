package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-run/weft/persistence"
)

// target is where an operator command reads from: a running server (over
// its socket, with a token) or, with --data-dir, a stopped server's store.
type target struct {
	server, token, dataDir string
	json                   bool
	stderr                 io.Writer // the command's (its flag set's output)
}

// register adds --server and --token, --data-dir when the command can read
// a store directly, and --json when its output is a listing.
func (t *target) register(fs *flag.FlagSet, dataDir, listing bool) {
	t.stderr = fs.Output()
	fs.StringVar(&t.server, "server", defaultServer, serverUsage)
	fs.StringVar(&t.token, "token", "", "API token (also WEFT_TOKEN; default: the first admin token of ./"+localKeysFile+")")
	if dataDir {
		fs.StringVar(&t.dataDir, "data-dir", "", "read a stopped server's data dir instead of --server")
	}
	if listing {
		fs.BoolVar(&t.json, "json", false, "print JSON instead of a table")
	}
}

// needs adds the scopes a command's token needs to --token's help line.
func (t *target) needs(fs *flag.FlagSet, scopes string) {
	fs.Lookup("token").Usage += "; needs " + scopes
}

// openDataDir opens the store of a data dir. bbolt allows one process at a
// time: a dir a server is using fails within a second with a clear error
// (stop the server, or use --server). A missing store is an error rather
// than a new empty one.
func openDataDir(dir string) (*persistence.Store, error) {
	path := filepath.Join(dir, "weft.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--data-dir %s: no weft store there: %w", dir, err)
	}
	st, err := persistence.Open(path, persistence.Options{})
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s (is a server still running on it? stop it or use --server): %w", dir, err)
	}
	return st, nil
}

// openOrCreateDataDir is openDataDir for import, which may fill a new dir.
func openOrCreateDataDir(dir string) (*persistence.Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	st, err := persistence.Open(filepath.Join(dir, "weft.db"), persistence.Options{})
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s (is a server still running on it? stop it or use --server): %w", dir, err)
	}
	return st, nil
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseSince reads --since: a duration back from now ("24h") or an
// RFC 3339 time. Zero means no bound.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("--since %q: want a duration (24h) or an RFC 3339 time", s)}
}

// oneLine shortens raw JSON for a table cell.
func oneLine(raw []byte, max int) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

// progress writes a status line over itself on stderr, for operations that
// take a while (export, import, replay-check).
type progress struct {
	w     io.Writer
	label string
	shown bool
	last  time.Time
}

func (p *progress) update(done, total int) {
	if !isTerminal(p.w) {
		return
	}
	if time.Since(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = time.Now()
	p.shown = true
	if total > 0 {
		fmt.Fprintf(p.w, "\r\033[K%s %d/%d", p.label, done, total)
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s %d", p.label, done)
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal, where a self-overwriting
// progress line makes sense (not a file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
