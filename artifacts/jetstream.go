package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft"
)

// JetStream is the artifact store of cluster mode: the bytes in a
// JetStream object store (bucket WEFT_ARTIFACTS), one object per artifact
// named by its id, and the metadata in a key-value bucket
// (WEFT_ARTIFACTS_META, key <base64url workspace>.<artifact id>), so that
// an artifact stored on one node is read on any other and nothing of it
// stays on a node's disk. Identical bytes are not shared between
// artifacts (no reference counts to keep consistent across nodes).
//
// An artifact is visible once its metadata is stored, which happens after
// its object is complete: a node dying in between leaves an object with
// no metadata, which Expire removes.
type JetStream struct {
	objects jetstream.ObjectStore
	meta    jetstream.KeyValue
	max     int64
}

// Bucket names of the JetStream store.
const (
	ObjectBucket = "WEFT_ARTIFACTS"
	MetaBucket   = "WEFT_ARTIFACTS_META"
)

// jsTimeout bounds a metadata read or write and the start of a download
// (the store's methods but Put take no context).
const jsTimeout = 10 * time.Second

// OpenJetStream creates (or binds) the buckets with replicas copies
// (<= 0: 1).
func OpenJetStream(ctx context.Context, js jetstream.JetStream, replicas int, maxBytes int64) (*JetStream, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	replicas = max(replicas, 1)
	objects, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: ObjectBucket, Description: "weft: artifact bytes, one object per artifact id",
		Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("artifacts: object store %s: %w", ObjectBucket, err)
	}
	meta, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: MetaBucket, Description: "weft: artifact metadata, <workspace>.<artifact id>",
		Replicas: replicas, Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("artifacts: bucket %s: %w", MetaBucket, err)
	}
	return &JetStream{objects: objects, meta: meta, max: maxBytes}, nil
}

// MaxBytes is the bound of one artifact.
func (s *JetStream) MaxBytes() int64 { return s.max }

// Close does nothing: the NATS connection is the server's.
func (s *JetStream) Close() error { return nil }

func wsToken(workspace string) string { return base64.RawURLEncoding.EncodeToString([]byte(workspace)) }

// metaKey is the key of an artifact, or "" for an id that cannot be one
// (ids come from clients: only [A-Za-z0-9_-] reaches a subject).
func metaKey(workspace, id string) string {
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return ""
	}
	return wsToken(workspace) + "." + id
}

// limitReader hashes what it passes and fails with ErrTooLarge past max,
// which makes the object store drop the chunks it stored.
type limitReader struct {
	r   io.Reader
	ctx context.Context
	max int64
	n   int64
	h   hash.Hash
}

func (l *limitReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return 0, ErrTooLarge
	}
	l.h.Write(p[:n])
	return n, err
}

// Put streams r into a new artifact of the workspace (executionID "" for
// an upload). Past MaxBytes it is ErrTooLarge and nothing is left behind.
func (s *JetStream) Put(ctx context.Context, workspace, executionID, name, contentType string, r io.Reader) (Meta, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	id := weft.NewID("art_")
	lr := &limitReader{r: r, ctx: ctx, max: s.max, h: sha256.New()}
	if _, err := s.objects.Put(ctx, jetstream.ObjectMeta{Name: id}, lr); err != nil {
		if errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
			return Meta{}, errors.Join(err, ctx.Err())
		}
		return Meta{}, fmt.Errorf("artifacts: store %s: %w", id, err)
	}
	rec := record{Workspace: workspace, Meta: Meta{
		ID: id, Name: name, Size: lr.n, SHA256: hex.EncodeToString(lr.h.Sum(nil)),
		ContentType: contentType, CreatedAt: time.Now().UTC(), ExecutionID: executionID,
	}}
	raw, err := json.Marshal(rec)
	if err == nil {
		_, err = s.meta.Create(ctx, metaKey(workspace, id), raw)
	}
	if err != nil {
		_ = s.objects.Delete(context.WithoutCancel(ctx), id)
		return Meta{}, fmt.Errorf("artifacts: store the metadata of %s: %w", id, err)
	}
	return rec.Meta, nil
}

// Get returns an artifact's metadata; another workspace's is ErrNotFound.
func (s *JetStream) Get(workspace, id string) (Meta, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
	defer cancel()
	rec, err := s.load(ctx, workspace, id)
	return rec.Meta, err
}

func (s *JetStream) load(ctx context.Context, workspace, id string) (record, error) {
	var rec record
	key := metaKey(workspace, id)
	if key == "" {
		return rec, ErrNotFound
	}
	entry, err := s.meta.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, ErrNotFound
	}
	if err != nil {
		return rec, fmt.Errorf("artifacts: %s: %w", id, err)
	}
	if err := json.Unmarshal(entry.Value(), &rec); err != nil || rec.Workspace != workspace || rec.ID != id {
		return rec, fmt.Errorf("artifacts: %s: damaged metadata", id)
	}
	return rec, nil
}

// Open opens an artifact's bytes. The object is read from the start on
// the first Read; a Seek elsewhere reads again from there.
func (s *JetStream) Open(workspace, id string) (io.ReadSeekCloser, Meta, error) {
	m, err := s.Get(workspace, id)
	if err != nil {
		return nil, Meta{}, err
	}
	return &objectReader{objects: s.objects, name: id, size: m.Size}, m, nil
}

// objectReader reads an object, seekable by reading it again (downloads
// seek to learn the size, and for a range).
type objectReader struct {
	objects jetstream.ObjectStore
	name    string
	size    int64
	pos     int64 // where the next Read starts
	cur     jetstream.ObjectResult
	stop    context.CancelFunc // ends cur's read (its chunks come while it lives)
	curPos  int64              // where cur is
}

func (o *objectReader) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.cur == nil || o.curPos != o.pos {
		if err := o.reopen(); err != nil {
			return 0, err
		}
	}
	n, err := o.cur.Read(p)
	o.pos += int64(n)
	o.curPos = o.pos
	return n, err
}

// reopen starts reading the object at pos. The read lives until Close
// (or the next reopen): a download may take long.
func (o *objectReader) reopen() error {
	_ = o.Close()
	ctx, cancel := context.WithCancel(context.Background())
	res, err := o.objects.Get(ctx, o.name)
	if err != nil {
		cancel()
		return fmt.Errorf("artifacts: open %s: %w", o.name, err)
	}
	if _, err := io.CopyN(io.Discard, res, o.pos); err != nil {
		_ = res.Close()
		cancel()
		return fmt.Errorf("artifacts: seek %s: %w", o.name, err)
	}
	o.cur, o.stop, o.curPos = res, cancel, o.pos
	return nil
}

func (o *objectReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.size
	default:
		return 0, fmt.Errorf("artifacts: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("artifacts: seek before the start")
	}
	o.pos = offset
	return offset, nil
}

func (o *objectReader) Close() error {
	if o.cur == nil {
		return nil
	}
	err := o.cur.Close()
	o.stop()
	o.cur, o.stop = nil, nil
	return err
}

// List returns the workspace's artifacts, newest first, at most limit
// (<= 0: 1000).
func (s *JetStream) List(workspace string, limit int) ([]Meta, error) {
	if limit <= 0 {
		limit = 1000
	}
	recs, err := s.scan(context.Background(), wsToken(workspace)+".*")
	out := make([]Meta, 0, len(recs))
	for _, rec := range recs {
		if rec.Workspace == workspace {
			out = append(out, rec.Meta)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// scan reads the metadata of the keys matching filter, through one
// watcher; a value that does not decode is left out.
func (s *JetStream) scan(ctx context.Context, filter string) ([]record, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w, err := s.meta.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("artifacts: list: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var recs []record
	for {
		select {
		case <-ctx.Done():
			return recs, fmt.Errorf("artifacts: list: %w", ctx.Err())
		case entry, ok := <-w.Updates():
			if !ok {
				return recs, errors.New("artifacts: list: the watcher stopped")
			}
			if entry == nil {
				return recs, nil
			}
			var rec record
			if json.Unmarshal(entry.Value(), &rec) == nil && rec.ID != "" {
				recs = append(recs, rec)
			}
		}
	}
}

// Delete removes one artifact of the workspace.
func (s *JetStream) Delete(workspace, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
	defer cancel()
	rec, err := s.load(ctx, workspace, id)
	if err != nil {
		return err
	}
	return s.remove(ctx, rec)
}

// remove deletes the metadata first (the artifact is gone for readers),
// then the object.
func (s *JetStream) remove(ctx context.Context, rec record) error {
	if err := s.meta.Purge(ctx, metaKey(rec.Workspace, rec.ID)); err != nil {
		return fmt.Errorf("artifacts: delete %s: %w", rec.ID, err)
	}
	if err := s.objects.Delete(ctx, rec.ID); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("artifacts: delete the bytes of %s: %w", rec.ID, err)
	}
	return nil
}

// DeleteExecution removes the artifacts an execution created.
func (s *JetStream) DeleteExecution(workspace, executionID string) (int, error) {
	recs, err := s.scan(context.Background(), wsToken(workspace)+".*")
	if err != nil {
		return 0, err
	}
	var picked []record
	for _, rec := range recs {
		if rec.ExecutionID == executionID && rec.Workspace == workspace {
			picked = append(picked, rec)
		}
	}
	return s.removeAll(picked)
}

func (s *JetStream) removeAll(recs []record) (int, error) {
	n := 0
	var errs []error
	for _, rec := range recs {
		ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
		err := s.remove(ctx, rec)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Expire removes uploads older than retention (<= 0: none), the artifacts
// of executions that exists reports gone, and objects without metadata
// older than a minute (a node died between the two writes of a Put).
// Every node may run it at once: a removal done twice is one. ctx ends it
// early (the sweep stopped).
func (s *JetStream) Expire(ctx context.Context, now time.Time, retention time.Duration, exists func(workspace, executionID string) bool) (int, error) {
	recs, err := s.scan(ctx, ">")
	if err != nil {
		return 0, err
	}
	var picked []record
	gone := map[string]bool{}
	known := make(map[string]bool, len(recs))
	for _, rec := range recs {
		known[rec.ID] = true
		switch {
		case rec.ExecutionID == "":
			if retention > 0 && rec.CreatedAt.Before(now.Add(-retention)) {
				picked = append(picked, rec)
			}
		case exists != nil:
			key := rec.Workspace + "\x00" + rec.ExecutionID
			g, seen := gone[key]
			if !seen {
				g = !exists(rec.Workspace, rec.ExecutionID)
				gone[key] = g
			}
			if g {
				picked = append(picked, rec)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.removeAll(picked)
	return n + s.sweepOrphans(ctx, now, known), err
}

// orphanAge is how old an object without metadata must be to be removed:
// older than any Put in progress between its two writes.
const orphanAge = time.Minute

// sweepOrphans removes objects no metadata names (known: the ids that
// have metadata, read before the objects are listed).
func (s *JetStream) sweepOrphans(ctx context.Context, now time.Time, known map[string]bool) int {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	infos, err := s.objects.List(ctx)
	if err != nil {
		return 0 // none, or the next sweep
	}
	n := 0
	for _, info := range infos {
		if known[info.Name] || !info.ModTime.Before(now.Add(-orphanAge)) {
			continue
		}
		if s.objects.Delete(ctx, info.Name) == nil {
			n++
		}
	}
	return n
}
