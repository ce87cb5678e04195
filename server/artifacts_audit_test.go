package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/server"
)

// artifactAudit waits until token's workspace holds n records of actions
// artifact.upload and artifact.delete, and returns them, oldest first.
func artifactAudit(t *testing.T, ts *testServer, token string, n int) []auditRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []auditRecord
		for _, r := range auditOf(t, ts, token, "") {
			if strings.HasPrefix(r.Action, "artifact.") {
				got = append(got, r)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestArtifactUploadAndDeleteAudited: the artifact handlers, which act
// without a Service method that records, leave one record per upload and
// delete, refused attempts included (FORBIDDEN, too large, another
// workspace's id); reads leave none.
func TestArtifactUploadAndDeleteAudited(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.MaxArtifactBytes = 64 })
	m := uploadArtifact(t, ts, adminToken, "a.txt", "text/plain", []byte("hello"))
	path := "/api/v1/artifacts/" + m.ArtifactID
	httpDo(t, ts, "POST", "/api/v1/artifacts?name=denied.txt", readerToken, []byte("x")).expectError(t, http.StatusForbidden, "FORBIDDEN")
	httpDo(t, ts, "POST", "/api/v1/artifacts?name=big.bin", adminToken, []byte(strings.Repeat("x", 65))).expectError(t, http.StatusRequestEntityTooLarge, "WS_MESSAGE_TOO_LARGE")
	// Reads are not mutations.
	httpDo(t, ts, "GET", path, readerToken, nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "GET", "/api/v1/artifacts", readerToken, nil).expectStatus(t, http.StatusOK)
	httpDo(t, ts, "DELETE", path, readerToken, nil).expectError(t, http.StatusForbidden, "FORBIDDEN")
	httpDo(t, ts, "DELETE", path, otherToken, nil).expectError(t, http.StatusNotFound, "ARTIFACT_NOT_FOUND")
	httpDo(t, ts, "DELETE", path, adminToken, nil, "User-Agent", "weft-cli/test").expectStatus(t, http.StatusOK)

	type rec struct{ identity, transport, action, target, outcome string }
	want := []rec{
		{"alice", "http", "artifact.upload", m.ArtifactID, "ok"},
		{"rita", "http", "artifact.upload", "denied.txt", "FORBIDDEN"},
		{"alice", "http", "artifact.upload", "big.bin", "WS_MESSAGE_TOO_LARGE"},
		{"rita", "http", "artifact.delete", m.ArtifactID, "FORBIDDEN"},
		{"alice", "cli", "artifact.delete", m.ArtifactID, "ok"},
	}
	got := artifactAudit(t, ts, adminToken, len(want))
	if len(got) != len(want) {
		t.Fatalf("acme's artifact records: %+v, want %d", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if (rec{g.Identity, g.Transport, g.Action, g.Target, g.Outcome}) != w || g.Workspace != "acme" || g.RemoteAddr != "127.0.0.1" {
			t.Errorf("record %d: %+v, want %+v in acme from 127.0.0.1", i, g, w)
		}
	}
	// The refused delete of acme's id by globex is globex's record.
	other := artifactAudit(t, ts, otherToken, 1)
	if len(other) != 1 || other[0].Identity != "bob" || other[0].Workspace != "globex" || other[0].Action != "artifact.delete" ||
		other[0].Target != m.ArtifactID || other[0].Outcome != "ARTIFACT_NOT_FOUND" {
		t.Fatalf("globex's artifact records: %+v", other)
	}
	// The listing filters by action.
	if up := auditOf(t, ts, adminToken, "&action=artifact.upload"); len(up) != 3 {
		t.Errorf("action=artifact.upload: %+v", up)
	}
}

// TestArtifactAuditOff: with the audit off, uploads and deletes leave no
// record.
func TestArtifactAuditOff(t *testing.T) {
	ts := bootServer(t, "", func(c *server.Config) { c.NoAudit = true })
	m := uploadArtifact(t, ts, adminToken, "a.txt", "text/plain", []byte("hello"))
	httpDo(t, ts, "DELETE", "/api/v1/artifacts/"+m.ArtifactID, adminToken, nil).expectStatus(t, http.StatusOK)
	time.Sleep(50 * time.Millisecond)
	if got := auditOf(t, ts, adminToken, ""); len(got) != 0 {
		t.Fatalf("audit off recorded %+v", got)
	}
}
