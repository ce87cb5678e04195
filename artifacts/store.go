// Package artifacts stores blobs too large for a frame: uploaded inputs and
// what workflows create. The bytes live in Blobs (content-addressed files
// under the data dir: identical blobs stored once); a bbolt file holds the
// metadata and the references, never bytes. A blob is removed when its last
// reference goes.
package artifacts

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft"
)

// DefaultMaxBytes bounds one artifact (weft serve --max-artifact-bytes).
const DefaultMaxBytes = 100 << 20

// Meta describes one artifact.
type Meta = weft.ArtifactMeta

// record is what the database keeps per artifact.
type record struct {
	Meta
	Workspace string `json:"workspace"`
}

// ErrNotFound: no such artifact in the workspace.
var ErrNotFound = weft.ErrArtifactNotFound

var (
	bucketArtifacts = []byte("artifacts") // id -> record (JSON)
	bucketBlobs     = []byte("blobs")     // sha -> reference count (uint64)
	bucketByExec    = []byte("by_exec")   // workspace \x00 execution \x00 id -> nil
	bucketUploads   = []byte("uploads")   // created (unix ns, 8 bytes) + id -> nil: uploads, for retention
)

// Options configure a Store.
type Options struct {
	MaxBytes int64 // per artifact; 0: DefaultMaxBytes
	NoSync   bool  // no fsync: tests and benchmarks only
	Blobs    Blobs // nil: FileBlobs under <dir>/artifacts
}

// Store is the artifact store of one node.
type Store struct {
	db    *bolt.DB
	blobs Blobs
	max   int64
	// mu orders a blob's commit with the reference it adds, and a removal
	// of the last reference with the file's removal, so a blob never
	// loses its file while a reference to it is being added.
	mu sync.Mutex
}

// Open opens (or creates) the store under dataDir: <dataDir>/artifacts.db
// and <dataDir>/artifacts/. It sweeps what a crash left: temp files of
// interrupted uploads and blobs no reference names.
func Open(dataDir string, opts Options) (*Store, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Blobs == nil {
		fb, err := NewFileBlobs(filepath.Join(dataDir, "artifacts"), opts.NoSync)
		if err != nil {
			return nil, err
		}
		opts.Blobs = fb
	}
	db, err := bolt.Open(filepath.Join(dataDir, "artifacts.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: opts.NoSync})
	if err != nil {
		return nil, fmt.Errorf("artifacts: open: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketArtifacts, bucketBlobs, bucketByExec, bucketUploads} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	s := &Store{db: db, blobs: opts.Blobs, max: opts.MaxBytes}
	if _, err := s.sweep(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// MaxBytes is the bound of one artifact.
func (s *Store) MaxBytes() int64 { return s.max }

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// sweep removes temp files and unreferenced blobs (a crash between a
// blob's rename and its reference's commit, or between the last
// reference's removal and the file's).
func (s *Store) sweep() (int, error) {
	n, err := s.blobs.SweepTemp()
	if err != nil {
		return n, fmt.Errorf("artifacts: sweep: %w", err)
	}
	var orphans []string
	err = s.db.View(func(tx *bolt.Tx) error {
		refs := tx.Bucket(bucketBlobs)
		return s.blobs.Each(func(sha string) error {
			if refs.Get([]byte(sha)) == nil {
				orphans = append(orphans, sha)
			}
			return nil
		})
	})
	if err != nil {
		return n, fmt.Errorf("artifacts: sweep: %w", err)
	}
	for _, sha := range orphans {
		if s.blobs.Remove(sha) == nil {
			n++
		}
	}
	return n, nil
}

// Put streams r into a new artifact of the workspace (executionID "" for
// an upload). Past MaxBytes it is ErrTooLarge and nothing is left behind.
func (s *Store) Put(ctx context.Context, workspace, executionID, name, contentType string, r io.Reader) (Meta, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	staged, err := s.blobs.Stage(ctx, r, s.max)
	if err != nil {
		return Meta{}, err
	}
	rec := record{Workspace: workspace, Meta: Meta{
		ID: weft.NewID("art_"), Name: name, Size: staged.Size(), SHA256: staged.SHA256(),
		ContentType: contentType, CreatedAt: time.Now().UTC(), ExecutionID: executionID,
	}}
	raw, err := json.Marshal(rec)
	if err != nil {
		staged.Discard()
		return Meta{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := staged.Commit(); err != nil {
		return Meta{}, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketArtifacts).Put([]byte(rec.ID), raw); err != nil {
			return err
		}
		if executionID != "" {
			if err := tx.Bucket(bucketByExec).Put(execKey(workspace, executionID, rec.ID), nil); err != nil {
				return err
			}
		} else if err := tx.Bucket(bucketUploads).Put(uploadKey(rec.CreatedAt, rec.ID), nil); err != nil {
			return err
		}
		refs := tx.Bucket(bucketBlobs)
		return refs.Put([]byte(rec.SHA256), u64(count(refs.Get([]byte(rec.SHA256)))+1))
	})
	if err != nil {
		// The blob may be another artifact's too: the start-up sweep
		// removes it if nothing refers to it.
		return Meta{}, fmt.Errorf("artifacts: %w", err)
	}
	return rec.Meta, nil
}

// Get returns an artifact's metadata; another workspace's is ErrNotFound.
func (s *Store) Get(workspace, id string) (Meta, error) {
	var rec record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = load(tx, workspace, id)
		return err
	})
	return rec.Meta, err
}

// Open opens an artifact's bytes.
func (s *Store) Open(workspace, id string) (io.ReadSeekCloser, Meta, error) {
	m, err := s.Get(workspace, id)
	if err != nil {
		return nil, Meta{}, err
	}
	f, err := s.blobs.Open(m.SHA256)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("artifacts: open %s: %w", id, err)
	}
	return f, m, nil
}

// List returns the workspace's artifacts, newest first, at most limit
// (<= 0: 1000).
func (s *Store) List(workspace string, limit int) ([]Meta, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []Meta
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketArtifacts).ForEach(func(_, v []byte) error {
			var rec record
			if json.Unmarshal(v, &rec) == nil && rec.Workspace == workspace {
				out = append(out, rec.Meta)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Delete removes one artifact of the workspace.
func (s *Store) Delete(workspace, id string) error {
	n, err := s.remove(func(tx *bolt.Tx) ([]record, error) {
		rec, err := load(tx, workspace, id)
		return []record{rec}, err
	})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// DeleteExecution removes the artifacts an execution created.
func (s *Store) DeleteExecution(workspace, executionID string) (int, error) {
	return s.remove(func(tx *bolt.Tx) ([]record, error) {
		var recs []record
		prefix := execKey(workspace, executionID, "")
		c := tx.Bucket(bucketByExec).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if rec, err := load(tx, workspace, string(k[len(prefix):])); err == nil {
				recs = append(recs, rec)
			}
		}
		return recs, nil
	})
}

// Expire removes uploads older than retention (<= 0: none) and the
// artifacts of executions that exists reports gone (the retention sweep
// removed them). It returns how many it removed. (ctx is for the
// JetStream store's reads: bbolt's are local.)
func (s *Store) Expire(_ context.Context, now time.Time, retention time.Duration, exists func(workspace, executionID string) bool) (int, error) {
	return s.remove(func(tx *bolt.Tx) ([]record, error) {
		var recs []record
		if retention > 0 {
			end := uploadKey(now.Add(-retention), "")
			c := tx.Bucket(bucketUploads).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
				var rec record
				if v := tx.Bucket(bucketArtifacts).Get(k[8:]); v != nil && json.Unmarshal(v, &rec) == nil {
					recs = append(recs, rec)
				}
			}
		}
		if exists != nil {
			gone := map[string]bool{}
			_ = tx.Bucket(bucketByExec).ForEach(func(k, _ []byte) error {
				parts := bytes.SplitN(k, []byte{0}, 3)
				if len(parts) != 3 {
					return nil
				}
				ws, ex := string(parts[0]), string(parts[1])
				key := ws + "\x00" + ex
				g, seen := gone[key]
				if !seen {
					g = !exists(ws, ex)
					gone[key] = g
				}
				if g {
					if rec, err := load(tx, ws, string(parts[2])); err == nil {
						recs = append(recs, rec)
					}
				}
				return nil
			})
		}
		return recs, nil
	})
}

// remove deletes the records pick chooses in one transaction, then the
// blobs whose last reference went.
func (s *Store) remove(pick func(tx *bolt.Tx) ([]record, error)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var unreferenced []string
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		recs, err := pick(tx)
		if err != nil {
			return err
		}
		refs := tx.Bucket(bucketBlobs)
		for _, rec := range recs {
			if tx.Bucket(bucketArtifacts).Get([]byte(rec.ID)) == nil {
				continue // picked twice
			}
			if err := tx.Bucket(bucketArtifacts).Delete([]byte(rec.ID)); err != nil {
				return err
			}
			if rec.ExecutionID != "" {
				err = tx.Bucket(bucketByExec).Delete(execKey(rec.Workspace, rec.ExecutionID, rec.ID))
			} else {
				err = tx.Bucket(bucketUploads).Delete(uploadKey(rec.CreatedAt, rec.ID))
			}
			if err != nil {
				return err
			}
			left := count(refs.Get([]byte(rec.SHA256))) - 1
			if left <= 0 {
				err = refs.Delete([]byte(rec.SHA256))
				unreferenced = append(unreferenced, rec.SHA256)
			} else {
				err = refs.Put([]byte(rec.SHA256), u64(left))
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, sha := range unreferenced {
		// A failure leaves an orphan file: the start-up sweep removes it.
		_ = s.blobs.Remove(sha)
	}
	return n, nil
}

func load(tx *bolt.Tx, workspace, id string) (record, error) {
	var rec record
	v := tx.Bucket(bucketArtifacts).Get([]byte(id))
	if v == nil || id == "" {
		return rec, ErrNotFound
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("artifacts: decode %s: %w", id, err)
	}
	if rec.Workspace != workspace {
		return record{}, ErrNotFound
	}
	return rec, nil
}

func execKey(workspace, executionID, id string) []byte {
	return []byte(workspace + "\x00" + executionID + "\x00" + id)
}

func uploadKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func count(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Files is how many blob files exist (tests: dedup and sweeps).
func (s *Store) Files() (int, error) {
	n := 0
	err := s.blobs.Each(func(string) error { n++; return nil })
	return n, err
}

// TempDir returns the staging directory of FileBlobs ("" for others).
func (s *Store) TempDir() string {
	if fb, ok := s.blobs.(*FileBlobs); ok {
		return filepath.Join(fb.dir, "tmp")
	}
	return ""
}
