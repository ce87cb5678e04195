package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weft-run/weft/persistence"
)

// AuditStore keeps the audit trail, with the bbolt store's signatures.
type AuditStore interface {
	AppendAudit(r persistence.AuditRecord, done func(error))
	AppendAuditWait(ctx context.Context, r persistence.AuditRecord) error
	ListAudit(ctx context.Context, f persistence.AuditFilter) (persistence.AuditPage, error)
	DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (n int, more bool, err error)
}

var _ AuditStore = (*persistence.Store)(nil)

// RunAudit runs the audit cases, each on a fresh store from open. Records
// are stamped around the time of the test: a store may rely on a
// record's time being close to when it is appended (weft stamps records
// as it appends them).
func RunAudit(t *testing.T, open func(t *testing.T) AuditStore) {
	runCases(t, open, []caseOf[AuditStore]{
		{"OldestFirstPerWorkspace", testAuditOldestFirst},
		{"AsyncDone", testAuditAsync},
		{"Pages", testAuditPages},
		{"Filters", testAuditFilters},
		{"Refused", testAuditRefused},
		{"DeleteBefore", testAuditDeleteBefore},
	})
}

func auditRecord(ws, action string, at time.Time, n int) persistence.AuditRecord {
	return persistence.AuditRecord{
		Time: at, Identity: "key:test", Workspace: ws, Transport: "ws",
		Action: action, Target: fmt.Sprintf("exec_%d", n), Outcome: "ok", RemoteAddr: "127.0.0.1:1",
	}
}

// appendAll stores records one after another, their times 1ms apart from
// base.
func appendAll(t *testing.T, s AuditStore, ws string, base time.Time, actions ...string) []persistence.AuditRecord {
	t.Helper()
	var out []persistence.AuditRecord
	for i, a := range actions {
		r := auditRecord(ws, a, base.Add(time.Duration(i)*time.Millisecond), i)
		if err := s.AppendAuditWait(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// listAll follows the cursor to the last page.
func listAll(t *testing.T, s AuditStore, f persistence.AuditFilter) (all []persistence.AuditRecord, pages int) {
	t.Helper()
	for pages = 1; ; pages++ {
		page, err := s.ListAudit(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		if f.Limit > 0 && len(page.Items) > f.Limit {
			t.Fatalf("page of %d items with a limit of %d", len(page.Items), f.Limit)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, pages
		}
		if pages > 1000 {
			t.Fatal("the cursor never ends")
		}
		f.After = page.NextCursor
	}
}

func sameRecords(t *testing.T, got, want []persistence.AuditRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) {
			t.Fatalf("record %d time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Fatalf("record %d = %+v, want %+v", i, g, w)
		}
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func testAuditOldestFirst(t *testing.T, s AuditStore) {
	base := now()
	a := appendAll(t, s, "ws", base, "execution.cancel", "execution.signal", "schedule.create", "execution.delete")
	b := appendAll(t, s, "ws-b", base, "keys.reload")
	odd := appendAll(t, s, "team.a b", base, "room.broadcast")
	for ws, want := range map[string][]persistence.AuditRecord{"ws": a, "ws-b": b, "team.a b": odd} {
		got, _ := listAll(t, s, persistence.AuditFilter{Workspace: ws})
		sameRecords(t, got, want)
	}
	if got, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws-none"}); len(got) != 0 {
		t.Fatalf("a workspace without records lists %+v", got)
	}
}

func testAuditAsync(t *testing.T, s AuditStore) {
	const n = 40
	done := make(chan error, n)
	base := now()
	for i := range n {
		s.AppendAudit(auditRecord("ws", "execution.start", base.Add(time.Duration(i)), i), func(err error) { done <- err })
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Limit: 1000})
	var targets []string
	for _, r := range got {
		targets = append(targets, r.Target)
	}
	slices.Sort(targets)
	if len(slices.Compact(targets)) != n {
		t.Fatalf("listed %d distinct records of %d appended", len(targets), n)
	}
	// A record without a workspace is refused through done.
	s.AppendAudit(auditRecord("", "x", base, 0), func(err error) { done <- err })
	if err := <-done; !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("async record without a workspace = %v, want ErrInvalid", err)
	}
}

func testAuditPages(t *testing.T, s AuditStore) {
	want := appendAll(t, s, "ws", now(), "a", "b", "c", "d", "e", "f", "g")
	got, pages := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Limit: 3})
	sameRecords(t, got, want)
	if pages != 3 {
		t.Fatalf("7 records by 3 came in %d pages, want 3", pages)
	}
	// An exact fit ends without an empty page.
	if _, pages := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Limit: 7}); pages != 1 {
		t.Fatalf("7 records by 7 came in %d pages, want 1", pages)
	}
	// Records appended after a page are on the next one.
	first, err := s.ListAudit(t.Context(), persistence.AuditFilter{Workspace: "ws", Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	last := first.Items[len(first.Items)-1]
	more := appendAll(t, s, "ws", last.Time.Add(time.Second), "h")
	rest, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Since: last.Time.Add(time.Nanosecond)})
	sameRecords(t, rest, more)
}

func testAuditFilters(t *testing.T, s AuditStore) {
	base := now()
	recs := appendAll(t, s, "ws", base, "x", "y", "x", "y", "x", "y", "x", "y", "x", "y")
	other := recs[3]
	other.Identity, other.Time = "key:other", base.Add(20*time.Millisecond)
	if err := s.AppendAuditWait(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	xs, pages := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Action: "x", Limit: 2})
	if len(xs) != 5 || pages < 3 || slices.ContainsFunc(xs, func(r persistence.AuditRecord) bool { return r.Action != "x" }) {
		t.Fatalf("action x by 2: %d records in %d pages: %+v", len(xs), pages, xs)
	}
	who, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Identity: "key:other"})
	if len(who) != 1 || who[0].Identity != "key:other" {
		t.Fatalf("identity filter: %+v", who)
	}
	window, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws", Since: base.Add(2 * time.Millisecond), Until: base.Add(5 * time.Millisecond)})
	sameRecords(t, window, recs[2:5])
}

func testAuditRefused(t *testing.T, s AuditStore) {
	if err := s.AppendAuditWait(t.Context(), auditRecord("", "x", now(), 0)); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("record without a workspace = %v, want ErrInvalid", err)
	}
	appendAll(t, s, "ws", now(), "x")
	if _, err := s.ListAudit(t.Context(), persistence.AuditFilter{Workspace: "ws", After: "not a cursor"}); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("a malformed cursor = %v, want ErrInvalid", err)
	}
}

func testAuditDeleteBefore(t *testing.T, s AuditStore) {
	base := now()
	old := []persistence.AuditRecord{
		auditRecord("ws", "a", base.Add(-3*time.Hour), 1),
		auditRecord("ws-b", "b", base.Add(-2*time.Hour), 2),
		auditRecord("ws", "c", base.Add(-time.Hour), 3),
	}
	for _, r := range old {
		if err := s.AppendAuditWait(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	young := appendAll(t, s, "ws", base, "d")
	cutoff := base.Add(-30 * time.Minute)
	n, more, err := s.DeleteAuditBefore(t.Context(), cutoff, 1)
	if err != nil || n != 1 || !more {
		t.Fatalf("first sweep by 1 = %d, %v, %v; want 1, more", n, more, err)
	}
	n, more, err = s.DeleteAuditBefore(t.Context(), cutoff, 0)
	if err != nil || n != 2 || more {
		t.Fatalf("second sweep = %d, %v, %v; want the other 2, no more", n, more, err)
	}
	if n, more, err := s.DeleteAuditBefore(t.Context(), cutoff, 0); err != nil || n != 0 || more {
		t.Fatalf("a sweep with nothing left = %d, %v, %v", n, more, err)
	}
	got, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws"})
	sameRecords(t, got, young)
	if got, _ := listAll(t, s, persistence.AuditFilter{Workspace: "ws-b"}); len(got) != 0 {
		t.Fatalf("ws-b after the sweep: %+v", got)
	}
}
