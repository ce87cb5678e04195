package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

type artifactMeta struct {
	ArtifactID  string `json:"artifact_id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	ExecutionID string `json:"execution_id"`
}

func uploadArtifact(t testing.TB, ts *testServer, token, name, contentType string, body []byte) artifactMeta {
	t.Helper()
	r := httpDo(t, ts, "POST", "/api/v1/artifacts?name="+name, token, body, "Content-Type", contentType)
	r.expectStatus(t, http.StatusCreated)
	return decode[artifactMeta](t, r.body)
}

// blobFiles lists the blob files under the data dir.
func blobFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, "artifacts", "sha256"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func tempFiles(t testing.TB, dir string) []os.DirEntry {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "artifacts", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestArtifactUploadDownloadRangeETagDelete(t *testing.T) {
	ts := startServer(t, "")
	body := []byte("hello artifacts, hello weft\n")
	sum := sha256.Sum256(body)
	m := uploadArtifact(t, ts, adminToken, "greeting.txt", "text/plain", body)
	if !strings.HasPrefix(m.ArtifactID, "art_") || m.Name != "greeting.txt" || m.Size != int64(len(body)) ||
		m.SHA256 != hex.EncodeToString(sum[:]) || m.ContentType != "text/plain" {
		t.Fatalf("upload answered %+v", m)
	}
	path := "/api/v1/artifacts/" + m.ArtifactID
	// executions:read is enough to download.
	r := httpDo(t, ts, "GET", path, readerToken, nil)
	r.expectStatus(t, http.StatusOK)
	if !bytes.Equal(r.body, body) || r.header.Get("Content-Type") != "text/plain" || r.header.Get("ETag") != `"`+m.SHA256+`"` {
		t.Fatalf("download: %q, headers %v", r.body, r.header)
	}
	r = httpDo(t, ts, "GET", path, readerToken, nil, "Range", "bytes=6-14")
	r.expectStatus(t, http.StatusPartialContent)
	if string(r.body) != "artifacts" || r.header.Get("Content-Range") != fmt.Sprintf("bytes 6-14/%d", len(body)) {
		t.Fatalf("range: %q %v", r.body, r.header)
	}
	httpDo(t, ts, "GET", path, readerToken, nil, "If-None-Match", `"`+m.SHA256+`"`).expectStatus(t, http.StatusNotModified)
	// Another workspace's: not found; its list holds none.
	httpDo(t, ts, "GET", path, otherToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	httpDo(t, ts, "DELETE", path, otherToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	if l := httpDo(t, ts, "GET", "/api/v1/artifacts", otherToken, nil); strings.Contains(string(l.body), m.ArtifactID) {
		t.Fatalf("another workspace lists %s", l.body)
	}
	if l := httpDo(t, ts, "GET", "/api/v1/artifacts", readerToken, nil); !strings.Contains(string(l.body), m.ArtifactID) {
		t.Fatalf("the list lacks the upload: %s", l.body)
	}
	// Uploading needs artifacts:write.
	httpDo(t, ts, "POST", "/api/v1/artifacts?name=x", readerToken, []byte("x")).expectError(t, http.StatusForbidden, "FORBIDDEN")
	// The socket answers metadata.
	c := dial(t, ts, readerToken)
	f := c.call("g", "artifact.get", map[string]any{"artifact_id": m.ArtifactID})
	if f.Error != nil || decode[artifactMeta](t, f.Response).SHA256 != m.SHA256 {
		t.Fatalf("artifact.get: %+v %s", f.Error, f.Response)
	}
	r = httpDo(t, ts, "DELETE", path, adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", path, adminToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	if files := blobFiles(t, ts.dir); len(files) != 0 {
		t.Fatalf("blob files left after the last reference went: %v", files)
	}
}

// chunked hides a body's length, so the server learns it only by reading.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestArtifactTooLargeLeavesNothing(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.MaxArtifactBytes = 4096 })
	big := bytes.Repeat([]byte("x"), 8192)
	httpDo(t, ts, "POST", "/api/v1/artifacts?name=big", adminToken, big).expectError(t, http.StatusRequestEntityTooLarge, "WS_MESSAGE_TOO_LARGE")
	// Without Content-Length: refused while streaming.
	req, err := http.NewRequest("POST", "http://"+ts.Addr()+"/api/v1/artifacts?name=big", chunked{bytes.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked upload over the bound: %d", resp.StatusCode)
	}
	if files, tmp := blobFiles(t, ts.dir), tempFiles(t, ts.dir); len(files)+len(tmp) != 0 {
		t.Fatalf("left behind: %v %v", files, tmp)
	}
	if l := httpDo(t, ts, "GET", "/api/v1/artifacts", adminToken, nil); !sameJSONValue(l.body, `{"items":[]}`) {
		t.Fatalf("list after refused uploads: %s", l.body)
	}
	// Exactly the bound is fine.
	uploadArtifact(t, ts, adminToken, "fits", "", big[:4096])
}

func TestArtifactDedup(t *testing.T) {
	ts := startServer(t, "")
	body := bytes.Repeat([]byte("same bytes "), 1000)
	a := uploadArtifact(t, ts, adminToken, "a", "text/plain", body)
	b := uploadArtifact(t, ts, otherToken, "b", "application/octet-stream", body)
	if a.ArtifactID == b.ArtifactID || a.SHA256 != b.SHA256 {
		t.Fatalf("two uploads: %+v %+v", a, b)
	}
	if files := blobFiles(t, ts.dir); len(files) != 1 || !strings.HasSuffix(files[0], filepath.Join("sha256", a.SHA256[:2], a.SHA256)) {
		t.Fatalf("blob files %v, want one at sha256/%s/%s", files, a.SHA256[:2], a.SHA256)
	}
	httpDo(t, ts, "DELETE", "/api/v1/artifacts/"+a.ArtifactID, adminToken, nil).expectStatus(t, http.StatusOK)
	if r := httpDo(t, ts, "GET", "/api/v1/artifacts/"+b.ArtifactID, otherToken, nil); !bytes.Equal(r.body, body) {
		t.Fatalf("the other reference lost its bytes: %d", r.status)
	}
	httpDo(t, ts, "DELETE", "/api/v1/artifacts/"+b.ArtifactID, otherToken, nil).expectStatus(t, http.StatusOK)
	if files := blobFiles(t, ts.dir); len(files) != 0 {
		t.Fatalf("blob files %v after both deletes", files)
	}
}

func historyOf(t testing.TB, ts *testServer, id string) []historyLine {
	t.Helper()
	r := httpDo(t, ts, "GET", "/api/v1/executions/"+id+"/events", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	return parseLines(t, r.body)
}

type artifactCreated struct {
	StepID     string `json:"step_id"`
	ArtifactID string `json:"artifact_id"`
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

func createdArtifacts(t testing.TB, lines []historyLine) []artifactCreated {
	var out []artifactCreated
	for _, l := range lines {
		if l.Type == "artifact_created" {
			out = append(out, decode[artifactCreated](t, l.Data.Details))
		}
	}
	return out
}

func TestWordcountEndToEnd(t *testing.T) {
	ts := startServer(t, "")
	in := uploadArtifact(t, ts, adminToken, "text.txt", "text/plain", []byte("the cat and the hat\nThe end\n"))
	id := httpStart(t, ts, adminToken, "wordcount", map[string]any{"artifact_id": in.ArtifactID})
	snap := httpWaitStatus(t, ts, adminToken, id, "completed")
	if !sameJSONValue(snap.Result, `{"words":7}`) {
		t.Fatalf("result %s", snap.Result)
	}
	created := createdArtifacts(t, historyOf(t, ts, id))
	if len(created) != 1 || created[0].StepID != "2" || created[0].Name != "frequencies.txt" || created[0].SHA256 == "" {
		t.Fatalf("artifact_created events %+v", created)
	}
	r := httpDo(t, ts, "GET", "/api/v1/artifacts/"+created[0].ArtifactID, adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	if want := "3\tthe\n1\tand\n1\tcat\n1\tend\n1\that\n"; string(r.body) != want || int64(len(r.body)) != created[0].Size {
		t.Fatalf("frequencies %q, want %q", r.body, want)
	}
	// Another workspace cannot count acme's artifact.
	other := httpStart(t, ts, otherToken, "wordcount", map[string]any{"artifact_id": in.ArtifactID})
	httpWaitStatus(t, ts, otherToken, other, "failed")
	// Deleting the execution deletes what it created, not its input.
	httpDo(t, ts, "DELETE", "/api/v1/executions/"+id, adminToken, nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", "/api/v1/artifacts/"+created[0].ArtifactID, adminToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	httpDo(t, ts, "GET", "/api/v1/artifacts/"+in.ArtifactID, adminToken, nil).expectStatus(t, http.StatusOK)
}

// countingReader counts the bytes read from it across runs.
type countingReader struct {
	r    io.Reader
	read *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestPutArtifactRecordedStepIsReused: a workflow stores an artifact, then
// waits for a signal long enough to unwind; the signal runs it again from
// the top, where the recorded step returns the same artifact without
// reading or writing anything.
func TestPutArtifactRecordedStepIsReused(t *testing.T) {
	var read atomic.Int64
	var ids []string
	ts := startServer(t, "", func(r *workflows.Registry) {
		workflows.Register(r, "put-then-wait", func(ctx workflows.Context, _ struct{}) (map[string]string, error) {
			m, err := workflows.PutArtifact(ctx, "out.bin", "application/octet-stream",
				countingReader{r: strings.NewReader("payload"), read: &read})
			if err != nil {
				return nil, err
			}
			ids = append(ids, m.ID)
			if _, err := workflows.WaitSignal[json.RawMessage](ctx, "go", time.Minute); err != nil {
				return nil, err
			}
			return map[string]string{"artifact_id": m.ID}, nil
		})
	})
	id := httpStart(t, ts, adminToken, "put-then-wait", map[string]any{})
	httpWaitStatus(t, ts, adminToken, id, "waiting")
	time.Sleep(1500 * time.Millisecond) // past SuspendAfter: the goroutine unwinds
	httpDo(t, ts, "POST", "/api/v1/executions/"+id+"/signals/go", adminToken, map[string]any{}).expectStatus(t, http.StatusOK)
	snap := httpWaitStatus(t, ts, adminToken, id, "completed")
	created := createdArtifacts(t, historyOf(t, ts, id))
	if len(created) != 1 || read.Load() != int64(len("payload")) {
		t.Fatalf("artifact_created %d times, %d bytes read; want once, 7", len(created), read.Load())
	}
	if len(ids) < 2 || ids[0] != ids[len(ids)-1] || !sameJSONValue(snap.Result, `{"artifact_id":"`+created[0].ArtifactID+`"}`) {
		t.Fatalf("runs saw %v, result %s, event %+v", ids, snap.Result, created[0])
	}
	if l := httpDo(t, ts, "GET", "/api/v1/artifacts", adminToken, nil); strings.Count(string(l.body), "art_") != 1 {
		t.Fatalf("artifacts %s", l.body)
	}
}

func TestArtifactTempFilesSweptAtStart(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	kept := uploadArtifact(t, ts, adminToken, "kept", "", []byte("kept"))
	ts.stop(t)
	// A crash mid-upload leaves a temp file; one between a blob's rename
	// and its reference's commit leaves an unreferenced blob.
	if err := os.WriteFile(filepath.Join(dir, "artifacts", "tmp", "upload-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := strings.Repeat("ab", 32)
	if err := os.MkdirAll(filepath.Join(dir, "artifacts", "sha256", "ab"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "artifacts", "sha256", "ab", orphan), []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, dir)
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Fatalf("temp files after start: %v", tmp)
	}
	if files := blobFiles(t, dir); len(files) != 1 {
		t.Fatalf("blob files after start: %v", files)
	}
	if r := httpDo(t, ts, "GET", "/api/v1/artifacts/"+kept.ArtifactID, adminToken, nil); string(r.body) != "kept" {
		t.Fatalf("kept artifact: %d %q", r.status, r.body)
	}
}

func TestArtifactUploadsFollowRetention(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.Retention = 200 * time.Millisecond })
	m := uploadArtifact(t, ts, adminToken, "old", "", []byte("old"))
	deadline := time.Now().Add(5 * time.Second)
	for httpDo(t, ts, "GET", "/api/v1/artifacts/"+m.ArtifactID, adminToken, nil).status != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the upload outlived the retention")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rssKB reads the process's resident set (Linux; 0 elsewhere).
func rssKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb
		}
	}
	return 0
}

// zeros is an endless stream of a repeated block.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	for i := range p[:n] {
		p[i] = byte(i)
	}
	z.left -= int64(n)
	return n, nil
}

// TestArtifactLargeUploadKeepsRSSFlat uploads 1 GiB (client and server in
// this process) and samples the RSS while it streams: it grows by far
// less than the artifact.
func TestArtifactLargeUploadKeepsRSSFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload")
	}
	const size = 1 << 30
	ts := bootServer(t, "", func(c *server.Config) { c.MaxArtifactBytes = size; c.NoSync = true })
	runtime.GC()
	before := rssKB()
	var peak atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if v := rssKB(); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start := time.Now()
	req, _ := http.NewRequest("POST", "http://"+ts.Addr()+"/api/v1/artifacts?name=big", &zeros{left: size})
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	took := time.Since(start)
	grew := peak.Load() - before
	t.Logf("1 GiB upload in %s (%.0f MB/s); RSS before %d MiB, peak %d MiB (+%d MiB)",
		took.Round(time.Millisecond), float64(size)/1e6/took.Seconds(), before>>10, peak.Load()>>10, grew>>10)
	if before > 0 && grew > 64<<10 {
		t.Fatalf("RSS grew by %d MiB during a 1 GiB upload", grew>>10)
	}
}

func init() {
	// The scope and workspace walk (scopes_test.go) covers the artifact
	// routes and artifact.get.
	artifactOf := func(fx *scopeFixture) string {
		return uploadArtifact(fx.t, fx.ts, adminToken, "walk", "text/plain", []byte("acme's artifact")).ArtifactID
	}
	notFound := func(t *testing.T, _ *scopeFixture, r httpResult) {
		r.expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	}
	wsCases["artifact.get"] = wsCase{
		scope: weft.ScopeExecutionsRead, kind: kindList,
		request: func(fx *scopeFixture) any { return map[string]any{"artifact_id": artifactOf(fx)} },
		works: func(t *testing.T, _ *scopeFixture, frames []frame) {
			if m := decode[artifactMeta](t, expectWSOK(t, frames).Response); m.Name != "walk" {
				t.Fatalf("artifact.get answered %s", lastFrame(frames).Response)
			}
		},
		foreign: func(t *testing.T, _ *scopeFixture, frames []frame) { expectWSError(t, frames, "ARTIFACT_NOT_FOUND") },
	}
	httpCases["POST /api/v1/artifacts"] = httpCase{
		scope: weft.ScopeArtifactsWrite, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "POST", path: "/api/v1/artifacts?name=walked", body: []byte("walked")}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) { expectHTTPOK(t, r, http.StatusCreated) },
	}
	httpCases["GET /api/v1/artifacts"] = httpCase{
		scope: weft.ScopeExecutionsRead, kind: kindList,
		requests: func(*scopeFixture, string) []httpReq {
			return []httpReq{{method: "GET", path: "/api/v1/artifacts"}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) { expectHTTPOK(t, r, http.StatusOK) },
		foreign: func(t *testing.T, _ *scopeFixture, r httpResult) {
			if strings.Contains(string(r.body), `"name":"walk"`) {
				t.Fatalf("another workspace lists acme's artifacts: %s", r.body)
			}
		},
	}
	httpCases["GET /api/v1/artifacts/{id}"] = httpCase{
		scope: weft.ScopeExecutionsRead, kind: kindList,
		requests: func(fx *scopeFixture, _ string) []httpReq {
			return []httpReq{{method: "GET", path: "/api/v1/artifacts/" + artifactOf(fx)}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if string(r.body) != "acme's artifact" {
				t.Fatalf("download %q", r.body)
			}
		},
		foreign: notFound,
	}
	httpCases["DELETE /api/v1/artifacts/{id}"] = httpCase{
		scope: weft.ScopeArtifactsWrite, kind: kindList,
		requests: func(fx *scopeFixture, _ string) []httpReq {
			return []httpReq{{method: "DELETE", path: "/api/v1/artifacts/" + artifactOf(fx)}}
		},
		works: func(t *testing.T, _ *scopeFixture, _ httpReq, r httpResult) {
			expectHTTPOK(t, r, http.StatusOK)
			if !sameJSONValue(r.body, `{"deleted":true}`) {
				t.Fatalf("delete answered %s", r.body)
			}
		},
		foreign: notFound,
	}
}
