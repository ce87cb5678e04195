package client_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/server"
)

// TestClientArtifactsPutGetListDelete: an upload streamed from a reader of
// unknown length and one from a file come back byte for byte with their
// metadata, a range reads part of one, the list has both, and a delete
// makes the next download ARTIFACT_NOT_FOUND.
func TestClientArtifactsPutGetListDelete(t *testing.T) {
	ts := startServer(t, "", "")
	c := dial(t, ts.url(), client.Options{})
	ctx := testCtx(t)

	// 3 MiB from a reader that is neither a file nor a buffer: chunked.
	data := make([]byte, 3<<20)
	rnd := rand.NewChaCha8([32]byte{1})
	_, _ = rnd.Read(data)
	sum := sha256.Sum256(data)
	m, err := c.PutArtifact(ctx, "random.bin", "application/x-test", struct{ io.Reader }{bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ArtifactID, "art_") || m.Name != "random.bin" || m.Size != int64(len(data)) ||
		m.SHA256 != hex.EncodeToString(sum[:]) || m.ContentType != "application/x-test" || m.CreatedAt.IsZero() {
		t.Fatalf("PutArtifact answered %+v", m)
	}
	rc, got, err := c.GetArtifact(ctx, m.ArtifactID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("GetArtifact: %d bytes, err %v", len(back), err)
	}
	if got.ArtifactID != m.ArtifactID || got.Name != m.Name || got.Size != m.Size || got.SHA256 != m.SHA256 || got.ContentType != m.ContentType {
		t.Errorf("GetArtifact metadata %+v, want %+v", got, m)
	}
	rc, _, err = c.GetArtifactRange(ctx, m.ArtifactID, 1000, 24)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(part, data[1000:1024]) {
		t.Errorf("range 1000+24: %x", part)
	}
	info, err := c.ArtifactInfo(ctx, m.ArtifactID)
	if err != nil || info.SHA256 != m.SHA256 || info.Size != m.Size {
		t.Errorf("ArtifactInfo: %+v, %v", info, err)
	}

	// From a file (sent with its length), read from an offset.
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("skip:the rest is the artifact\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _ = f.Seek(5, io.SeekStart)
	m2, err := c.PutArtifact(ctx, "notes.txt", "", f)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Size != 25 || m2.ContentType != "application/octet-stream" {
		t.Errorf("file upload: %+v", m2)
	}

	list, err := c.ListArtifacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, a := range list {
		ids[a.ArtifactID] = true
	}
	if len(list) != 2 || !ids[m.ArtifactID] || !ids[m2.ArtifactID] {
		t.Fatalf("ListArtifacts: %+v", list)
	}

	if err := c.DeleteArtifact(ctx, m.ArtifactID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.GetArtifact(ctx, m.ArtifactID); client.ErrorCode(err) != client.CodeArtifactNotFound {
		t.Errorf("GetArtifact after delete: %v", err)
	}
	if err := c.DeleteArtifact(ctx, m.ArtifactID); !errors.Is(err, &client.Error{Code: client.CodeArtifactNotFound}) {
		t.Errorf("second DeleteArtifact: %v", err)
	}
	if list, _ := c.ListArtifacts(ctx); len(list) != 1 {
		t.Errorf("after delete the list has %d", len(list))
	}
}

// TestClientArtifactErrors: a token without artifacts:write is FORBIDDEN,
// another workspace's artifact is not found, and an upload over the bound
// is WS_MESSAGE_TOO_LARGE whether its length is known or not, leaving no
// artifact behind.
func TestClientArtifactErrors(t *testing.T) {
	ts := startServerWith(t, "", "", func(c *server.Config) { c.MaxArtifactBytes = 64 << 10 })
	admin := dial(t, ts.url(), client.Options{})
	reader := dial(t, ts.url(), client.Options{Token: readerToken})
	ctx := testCtx(t)

	m, err := admin.PutArtifact(ctx, "small", "text/plain", strings.NewReader("small"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.PutArtifact(ctx, "x", "", strings.NewReader("x")); client.ErrorCode(err) != client.CodeForbidden {
		t.Errorf("upload with executions:read only: %v", err)
	}
	if err := reader.DeleteArtifact(ctx, m.ArtifactID); client.ErrorCode(err) != client.CodeForbidden {
		t.Errorf("delete with executions:read only: %v", err)
	}
	rc, _, err := reader.GetArtifact(ctx, m.ArtifactID) // executions:read may download
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, _, err := admin.GetArtifact(ctx, "art_nope"); client.ErrorCode(err) != client.CodeArtifactNotFound {
		t.Errorf("unknown artifact: %v", err)
	}

	big := bytes.Repeat([]byte("x"), 64<<10+1)
	if _, err := admin.PutArtifact(ctx, "big", "", bytes.NewReader(big)); client.ErrorCode(err) != client.CodeMessageTooLarge {
		t.Errorf("known-length upload over the bound: %v", err)
	}
	if _, err := admin.PutArtifact(ctx, "big", "", struct{ io.Reader }{bytes.NewReader(big)}); client.ErrorCode(err) != client.CodeMessageTooLarge {
		t.Errorf("chunked upload over the bound: %v", err)
	}
	if list, err := admin.ListArtifacts(ctx); err != nil || len(list) != 1 {
		t.Errorf("after the refusals: %+v, %v", list, err)
	}
}

// TestClientArtifactWordcount: an uploaded text goes through the
// reference workflow wordcount by id, and the frequencies artifact it
// creates (its artifact_created event) downloads with the client.
func TestClientArtifactWordcount(t *testing.T) {
	ts := startServer(t, "", "")
	c := dial(t, ts.url(), client.Options{})
	ctx := testCtx(t)
	in, err := c.PutArtifact(ctx, "text.txt", "text/plain", strings.NewReader("the cat and the hat and the bat\n"))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := c.Start(ctx, "wordcount", map[string]string{"artifact_id": in.ArtifactID})
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ArtifactID string `json:"artifact_id"`
		Name       string `json:"name"`
	}
	for {
		ev, err := ex.Next(ctx)
		if err != nil {
			break
		}
		if ev.Type == "artifact_created" {
			if err := ev.DecodeDetails(&created); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := ex.Result(ctx)
	if err != nil || !strings.Contains(string(res), `"words":8`) {
		t.Fatalf("wordcount: %s, %v", res, err)
	}
	if created.ArtifactID == "" || created.Name != "frequencies.txt" {
		t.Fatalf("artifact_created: %+v", created)
	}
	rc, m, err := c.GetArtifact(ctx, created.ArtifactID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, _ := io.ReadAll(rc)
	if !strings.HasPrefix(string(out), "3\tthe\n2\tand\n") || !strings.HasPrefix(m.ContentType, "text/plain") {
		t.Errorf("frequencies (%s):\n%s", m.ContentType, out)
	}
}
