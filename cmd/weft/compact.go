package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// compactLockTimeout is how long compact waits for the store's file lock
// before deciding that a server holds it.
const compactLockTimeout = time.Second

// compactLockHold is how long compact keeps the old file locked after the
// compacted copy has replaced it. A process that opened weft.db just before
// the rename holds the old file and waits for its lock (the store gives up
// after one second); it must give up rather than get the lock on a file
// that is no longer the store.
var compactLockHold = 1500 * time.Millisecond

// compactTxMaxSize bounds the bytes copied per transaction of the
// compacted copy, so memory stays flat on a large store.
const compactTxMaxSize = 64 << 20

func compactCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft compact", stderr)
	dataDir := fs.String("data-dir", "", "the stopped server's data dir (holds weft.db)")
	out := fs.String("out", "", "write the compacted copy to this new file and leave the store as it is")
	backup := fs.Bool("backup", false, "keep the uncompacted store as weft.db.bak")
	return newLeaf(fs, leaf{
		name: "compact", usage: "weft compact --data-dir D [--out F] [--backup]", args: exactly(0),
		help: "Rewrite a stopped server's store without its free pages (the file shrinks).",
		long: "bbolt never gives space back to the file system: deleted executions leave free\n" +
			"pages that later writes reuse. compact copies every live key into a new file\n" +
			"with full pages, fsyncs it and renames it over weft.db. The server must be stopped.",
		run: func(ctx context.Context, _ []string) error {
			if *dataDir == "" {
				return usageError{"compact needs --data-dir"}
			}
			res, err := compactStore(ctx, filepath.Join(*dataDir, "weft.db"), *out, *backup)
			if err != nil {
				return err
			}
			saved := 0.0
			if res.before > 0 {
				saved = 100 * float64(res.before-res.after) / float64(res.before)
			}
			fmt.Fprintf(stdout, "%s: %s -> %s (%.0f%% smaller) in %v\n", res.path, byteSize(res.before), byteSize(res.after), saved, res.took.Round(time.Millisecond))
			if res.backup != "" {
				fmt.Fprintf(stdout, "the uncompacted store is kept as %s\n", res.backup)
			}
			return nil
		},
	})
}

type compactResult struct {
	path          string // where the compacted store is
	backup        string // the old store, if kept
	before, after int64
	took          time.Duration
}

// compactStore copies the bbolt file at path into a new file beside it
// with bbolt.Compact, fsyncs it, and then either renames it to out (when
// out is set: the store is left as it is) or atomically over path. The old
// file stays locked for the whole run, so a server cannot open it
// meanwhile, and a server that holds it makes compact fail at once.
func compactStore(ctx context.Context, path, out string, backup bool) (res compactResult, err error) {
	start := time.Now()
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("no weft store: %w", err)
	}
	res.before = fi.Size()
	if out != "" {
		if _, err := os.Stat(out); err == nil {
			return res, fmt.Errorf("--out %s already exists", out)
		}
	}
	bak := path + ".bak"
	if backup && out == "" {
		if _, err := os.Stat(bak); err == nil {
			return res, fmt.Errorf("%s already exists: remove it or compact without --backup", bak)
		}
	}

	// Read-write, not read-only: bbolt takes the exclusive file lock, which
	// keeps any other process (a server, another compact) out while we run.
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: compactLockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return res, fmt.Errorf("weft serve is running on this data dir; stop it first (%s is locked)", path)
	}
	if err != nil {
		return res, fmt.Errorf("open %s: %w", path, err)
	}
	replaced := false
	defer func() {
		if replaced {
			// See compactLockHold.
			time.Sleep(compactLockHold)
		}
		if cerr := src.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()

	dir := filepath.Dir(path)
	if out != "" {
		dir = filepath.Dir(out)
	}
	tmpf, err := os.CreateTemp(dir, filepath.Base(path)+".compact-*")
	if err != nil {
		return res, err
	}
	tmp := tmpf.Name()
	_ = tmpf.Close() // bbolt initialises an empty file
	keepTmp := false
	defer func() {
		if !keepTmp {
			_ = os.Remove(tmp)
		}
	}()
	// No fsync per copy transaction: the file is synced once at the end,
	// and until it is renamed it is nobody's store.
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: compactLockTimeout, NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("create %s: %w", tmp, err)
	}
	err = bolt.Compact(dst, src, compactTxMaxSize)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if fi, err := os.Stat(tmp); err == nil {
		res.after = fi.Size()
	}

	res.path = path
	if out != "" {
		res.path = out
		if err := os.Rename(tmp, out); err != nil {
			return res, err
		}
		keepTmp = true
		res.took = time.Since(start)
		return res, syncDir(dir)
	}
	if backup {
		// A hard link keeps weft.db in place until the rename below
		// replaces it: there is never a moment without a store.
		if err := os.Link(path, bak); err != nil {
			return res, fmt.Errorf("keep a backup: %w", err)
		}
		res.backup = bak
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, err
	}
	keepTmp, replaced = true, true
	res.took = time.Since(start)
	return res, syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// byteSize prints n in the largest binary unit that keeps it above one.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
