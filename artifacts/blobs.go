package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/weft-run/weft"
)

// Blobs is where the bytes go: content-addressed by sha256, written once.
// It is the seam between single-node storage (FileBlobs, files under the
// data dir) and cluster mode (an object store). The Store above it keeps
// the references and removes a blob when its last one goes.
type Blobs interface {
	// Stage streams r into a new blob that is not yet visible, hashing
	// while it writes; more than max bytes is ErrTooLarge and leaves
	// nothing behind.
	Stage(ctx context.Context, r io.Reader, max int64) (Staged, error)
	// Open opens the blob of sha for reading.
	Open(sha string) (io.ReadSeekCloser, error)
	// Remove deletes the blob of sha (no error if it is gone).
	Remove(sha string) error
	// Each calls fn with every blob's sha.
	Each(fn func(sha string) error) error
	// SweepTemp removes what interrupted Stage calls left (at start,
	// before any Stage).
	SweepTemp() (int, error)
}

// Staged is a blob written in full but not yet committed.
type Staged interface {
	SHA256() string
	Size() int64
	// Commit makes the blob visible under its sha; an identical blob
	// already there is kept and this copy dropped.
	Commit() error
	// Discard drops the staged copy.
	Discard()
}

// ErrTooLarge: the body exceeded the artifact size bound.
var ErrTooLarge = weft.ErrArtifactTooLarge

// FileBlobs keeps blobs as files: <dir>/sha256/ab/abcdef..., staged in
// <dir>/tmp, fsynced, then renamed into place.
type FileBlobs struct {
	dir    string
	noSync bool
}

// NewFileBlobs returns blobs under dir (created if missing). noSync skips
// fsync (tests and benchmarks only).
func NewFileBlobs(dir string, noSync bool) (*FileBlobs, error) {
	for _, d := range []string{filepath.Join(dir, "tmp"), filepath.Join(dir, "sha256")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
	}
	return &FileBlobs{dir: dir, noSync: noSync}, nil
}

func (b *FileBlobs) path(sha string) string {
	return filepath.Join(b.dir, "sha256", sha[:2], sha)
}

// validSHA guards paths built from a sha read back from the database.
func validSHA(sha string) bool {
	if len(sha) != 64 {
		return false
	}
	_, err := hex.DecodeString(sha)
	return err == nil
}

// copyBuffer is the chunk size of a Stage: the only memory an upload holds.
const copyBuffer = 256 << 10

// Stage implements Blobs.
func (b *FileBlobs) Stage(ctx context.Context, r io.Reader, max int64) (Staged, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	s := &fileStaged{b: b, tmp: f.Name()}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), &ctxReader{ctx: ctx, r: io.LimitReader(r, max+1)}, make([]byte, copyBuffer))
	if err == nil && n > max {
		err = ErrTooLarge
	}
	if err == nil && !b.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(s.tmp)
		return nil, err
	}
	s.sha, s.size = hex.EncodeToString(h.Sum(nil)), n
	return s, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type fileStaged struct {
	b    *FileBlobs
	tmp  string
	sha  string
	size int64
}

func (s *fileStaged) SHA256() string { return s.sha }
func (s *fileStaged) Size() int64    { return s.size }
func (s *fileStaged) Discard()       { _ = os.Remove(s.tmp) }

func (s *fileStaged) Commit() error {
	final := s.b.path(s.sha)
	if _, err := os.Stat(final); err == nil {
		_ = os.Remove(s.tmp) // stored once
		return nil
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.Discard()
		return fmt.Errorf("artifacts: %w", err)
	}
	if err := os.Rename(s.tmp, final); err != nil {
		s.Discard()
		return fmt.Errorf("artifacts: %w", err)
	}
	if !s.b.noSync {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	return nil
}

// Open implements Blobs.
func (b *FileBlobs) Open(sha string) (io.ReadSeekCloser, error) {
	if !validSHA(sha) {
		return nil, fmt.Errorf("artifacts: bad sha %q", sha)
	}
	return os.Open(b.path(sha))
}

// Remove implements Blobs.
func (b *FileBlobs) Remove(sha string) error {
	if !validSHA(sha) {
		return nil
	}
	if err := os.Remove(b.path(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Each implements Blobs.
func (b *FileBlobs) Each(fn func(sha string) error) error {
	return filepath.WalkDir(filepath.Join(b.dir, "sha256"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !validSHA(d.Name()) {
			return err
		}
		return fn(d.Name())
	})
}

// SweepTemp implements Blobs.
func (b *FileBlobs) SweepTemp() (int, error) {
	entries, err := os.ReadDir(filepath.Join(b.dir, "tmp"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "upload-") {
			if os.Remove(filepath.Join(b.dir, "tmp", e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}
