package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

func TestList(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})

	// 15 executions in ws-a and 10 in ws-b, two workflows, mixed statuses;
	// every third pair shares a CreatedAt so the id tie-break is exercised.
	statuses := []weft.Status{weft.StatusRunning, weft.StatusCompleted, weft.StatusFailed}
	var all []persistence.Execution
	for i := range 25 {
		ws := "ws-a"
		if i >= 15 {
			ws = "ws-b"
		}
		wf := []string{"wf1", "wf2"}[i%2]
		created := t0.Add(time.Duration(i-i%3) * time.Minute)
		e := newExec(ws, wf, fmt.Sprintf("ex-%c%02d", 'z'-i%5, i), created)
		create(t, s, e)
		if st := statuses[i%3]; st != weft.StatusRunning {
			commit(t, s, persistence.Write{ExecutionID: e.ID, Status: &persistence.StatusUpdate{Status: st, At: created}})
			e.Status = st
		}
		all = append(all, e)
	}
	// expect: newest first, then id ascending.
	expect := func(keep func(persistence.Execution) bool) []string { return listOrder(all, keep) }

	cases := []struct {
		name  string
		f     persistence.ListFilter
		keep  func(persistence.Execution) bool
		pages int
	}{
		{"workspace a in pages of 4", persistence.ListFilter{Workspace: "ws-a", Limit: 4},
			func(e persistence.Execution) bool { return e.Workspace == "ws-a" }, 4},
		{"workspace b in pages of 5 (exact multiple)", persistence.ListFilter{Workspace: "ws-b", Limit: 5},
			func(e persistence.Execution) bool { return e.Workspace == "ws-b" }, 2},
		{"default limit, one page", persistence.ListFilter{Workspace: "ws-a"},
			func(e persistence.Execution) bool { return e.Workspace == "ws-a" }, 1},
		{"status filter", persistence.ListFilter{Workspace: "ws-a", Status: weft.StatusCompleted, Limit: 2},
			func(e persistence.Execution) bool { return e.Workspace == "ws-a" && e.Status == weft.StatusCompleted }, 3},
		{"workflow filter", persistence.ListFilter{Workspace: "ws-b", Workflow: "wf2", Limit: 3},
			func(e persistence.Execution) bool { return e.Workspace == "ws-b" && e.Workflow == "wf2" }, 2},
		{"status and workflow", persistence.ListFilter{Workspace: "ws-a", Workflow: "wf1", Status: weft.StatusFailed, Limit: 1},
			func(e persistence.Execution) bool {
				return e.Workspace == "ws-a" && e.Workflow == "wf1" && e.Status == weft.StatusFailed
			}, 3},
		{"no match", persistence.ListFilter{Workspace: "ws-b", Workflow: "nope"},
			func(persistence.Execution) bool { return false }, 1},
		{"unknown workspace", persistence.ListFilter{Workspace: "ws"},
			func(persistence.Execution) bool { return false }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := expect(tc.keep)
			got := []string{}
			f, pages := tc.f, 0
			for {
				items, next, err := s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if f.Limit > 0 && len(items) > f.Limit {
					t.Fatalf("page %d has %d items, limit %d", pages, len(items), f.Limit)
				}
				for _, e := range items {
					if e.Workspace != tc.f.Workspace {
						t.Fatalf("%s of %s leaked into %s", e.ID, e.Workspace, tc.f.Workspace)
					}
					if e.LastSeq != 1 {
						t.Fatalf("%s: LastSeq %d", e.ID, e.LastSeq)
					}
					got = append(got, e.ID)
				}
				if next == "" {
					break
				}
				if pages > 30 {
					t.Fatal("cursor does not end")
				}
				f.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
			if pages != tc.pages {
				t.Fatalf("%d pages, want %d", pages, tc.pages)
			}
		})
	}

	rejects := []struct {
		name string
		f    persistence.ListFilter
	}{
		{"no workspace", persistence.ListFilter{}},
		{"cursor not base64", persistence.ListFilter{Workspace: "ws-a", Cursor: "!!"}},
		{"cursor too short", persistence.ListFilter{Workspace: "ws-a", Cursor: "AAAA"}},
	}
	for _, tc := range rejects {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			if _, _, err := s.List(ctx, tc.f); !errors.Is(err, persistence.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestListTimeRangeAndIdempotencyKey: the created_after/created_before
// bounds (after inclusive, before exclusive) and the idempotency key
// filter, alone, together, with the other filters and across pages.
func TestListTimeRangeAndIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})

	// 12 executions of ws-a, one a minute (two share minute 6), over three
	// workflows; keys "k<i%4>", so each key is used by several workflows
	// (a key is unique per workflow only); i == 11 has none. ws-b has the
	// same keys, never listed for ws-a.
	var all []persistence.Execution
	for i := range 12 {
		created := t0.Add(time.Duration(min(i, 6)+max(i-7, 0)) * time.Minute)
		wf := []string{"wf1", "wf2", "wf3"}[i%3]
		e := newExec("ws-a", wf, fmt.Sprintf("ex-%02d", i), created)
		if i != 11 {
			e.IdempotencyKey = fmt.Sprintf("k%d", i%4)
		}
		create(t, s, e)
		if i%2 == 1 {
			commit(t, s, persistence.Write{ExecutionID: e.ID, Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: created}})
			e.Status = weft.StatusCompleted
		}
		all = append(all, e)
		other := newExec("ws-b", wf, fmt.Sprintf("other-%02d", i), created)
		other.IdempotencyKey = e.IdempotencyKey
		create(t, s, other)
	}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	expect := func(keep func(persistence.Execution) bool) []string { return listOrder(all, keep) }
	inRange := func(e persistence.Execution, from, to time.Time) bool {
		return (from.IsZero() || !e.CreatedAt.Before(from)) && (to.IsZero() || e.CreatedAt.Before(to))
	}
	cases := []struct {
		name string
		f    persistence.ListFilter
		keep func(persistence.Execution) bool
	}{
		{"after, inclusive", persistence.ListFilter{CreatedAfter: at(6), Limit: 2},
			func(e persistence.Execution) bool { return inRange(e, at(6), time.Time{}) }},
		{"before, exclusive", persistence.ListFilter{CreatedBefore: at(6), Limit: 2},
			func(e persistence.Execution) bool { return inRange(e, time.Time{}, at(6)) }},
		{"between", persistence.ListFilter{CreatedAfter: at(2), CreatedBefore: at(7), Limit: 3},
			func(e persistence.Execution) bool { return inRange(e, at(2), at(7)) }},
		{"between, a nanosecond either side", persistence.ListFilter{CreatedAfter: at(6).Add(-time.Nanosecond), CreatedBefore: at(6).Add(time.Nanosecond)},
			func(e persistence.Execution) bool { return e.CreatedAt.Equal(at(6)) }},
		{"empty range", persistence.ListFilter{CreatedAfter: at(5), CreatedBefore: at(5)},
			func(persistence.Execution) bool { return false }},
		{"range and status", persistence.ListFilter{Status: weft.StatusCompleted, CreatedAfter: at(1), CreatedBefore: at(9), Limit: 1},
			func(e persistence.Execution) bool {
				return e.Status == weft.StatusCompleted && inRange(e, at(1), at(9))
			}},
		{"range and workflow", persistence.ListFilter{Workflow: "wf2", CreatedAfter: at(3)},
			func(e persistence.Execution) bool { return e.Workflow == "wf2" && inRange(e, at(3), time.Time{}) }},
		{"key, every workflow", persistence.ListFilter{IdempotencyKey: "k1", Limit: 1},
			func(e persistence.Execution) bool { return e.IdempotencyKey == "k1" }},
		{"key and workflow", persistence.ListFilter{IdempotencyKey: "k2", Workflow: "wf3"},
			func(e persistence.Execution) bool { return e.IdempotencyKey == "k2" && e.Workflow == "wf3" }},
		{"key and status", persistence.ListFilter{IdempotencyKey: "k3", Status: weft.StatusCompleted},
			func(e persistence.Execution) bool {
				return e.IdempotencyKey == "k3" && e.Status == weft.StatusCompleted
			}},
		{"key and range", persistence.ListFilter{IdempotencyKey: "k0", CreatedAfter: at(1), CreatedBefore: at(8)},
			func(e persistence.Execution) bool { return e.IdempotencyKey == "k0" && inRange(e, at(1), at(8)) }},
		{"unknown key", persistence.ListFilter{IdempotencyKey: "nope"},
			func(persistence.Execution) bool { return false }},
		{"key of an unknown workflow", persistence.ListFilter{IdempotencyKey: "k1", Workflow: "nope"},
			func(persistence.Execution) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Workspace = "ws-a"
			want := expect(tc.keep)
			got := []string{}
			for f, pages := tc.f, 0; ; pages++ {
				items, next, err := s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if f.Limit > 0 && len(items) > f.Limit {
					t.Fatalf("page of %d items, limit %d", len(items), f.Limit)
				}
				for _, e := range items {
					got = append(got, e.ID)
				}
				if next == "" {
					break
				}
				if pages > 20 {
					t.Fatal("cursor does not end")
				}
				f.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
	if len(expect(func(e persistence.Execution) bool { return e.IdempotencyKey == "k1" })) < 2 {
		t.Fatal("the key-across-workflows case lists fewer than two executions: it tests nothing")
	}
}

// FuzzListFilters: whatever a client sends as idempotency_key, workflow,
// status, time bounds, limit and cursor, List answers without panicking,
// and when it answers, walking its pages gives exactly the executions a
// plain filter over all of them keeps, in List's order.
func FuzzListFilters(f *testing.F) {
	f.Add("k1", uint8(0), uint8(0), int16(-1), int16(-1), uint8(3), "")
	f.Add("", uint8(2), uint8(1), int16(2), int16(9), uint8(1), "")
	f.Add("k2", uint8(3), uint8(2), int16(0), int16(0), uint8(0), "AAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("\x00\xff", uint8(1), uint8(3), int16(-30000), int16(30000), uint8(255), "!!")
	s, _ := openStore(f, persistence.Options{NoSync: true})
	var all []persistence.Execution
	for i := range 12 { // key k<i%4> and workflow <i%3>: each pair once
		e := newExec("ws", []string{"wf1", "wf2", "w"}[i%3], fmt.Sprintf("ex-%02d", i), t0.Add(time.Duration(i/2)*time.Minute))
		if i%5 != 4 {
			e.IdempotencyKey = fmt.Sprintf("k%d", i%4)
		}
		create(f, s, e)
		if i%3 == 1 {
			commit(f, s, persistence.Write{ExecutionID: e.ID, Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: e.CreatedAt}})
			e.Status = weft.StatusCompleted
		}
		all = append(all, e)
		create(f, s, newExec("other", e.Workflow, "o-"+e.ID, e.CreatedAt)) // never listed for ws
	}
	workflows := []string{"", "wf1", "wf2", "w", "nope"}
	statuses := []weft.Status{"", weft.StatusRunning, weft.StatusCompleted, weft.StatusFailed}
	f.Fuzz(func(t *testing.T, key string, wf, st uint8, after, before int16, limit uint8, cursor string) {
		ctx := context.Background()
		flt := persistence.ListFilter{Workspace: "ws", IdempotencyKey: key, Workflow: workflows[int(wf)%len(workflows)],
			Status: statuses[int(st)%len(statuses)], Limit: int(limit % 8), Cursor: cursor}
		if after >= 0 {
			flt.CreatedAfter = t0.Add(time.Duration(after) * 30 * time.Second)
		}
		if before >= 0 {
			flt.CreatedBefore = t0.Add(time.Duration(before) * 30 * time.Second)
		}
		items, next, err := s.List(ctx, flt)
		if err != nil {
			if cursor == "" || !errors.Is(err, persistence.ErrInvalid) {
				t.Fatalf("List(%+v): %v", flt, err)
			}
			return // a client's bad cursor
		}
		if cursor != "" {
			return // a cursor the fuzzer made up: any page it yields is fine
		}
		got := []string{}
		for pages := 0; ; pages++ {
			for _, e := range items {
				got = append(got, e.ID)
			}
			if next == "" {
				break
			}
			if pages > len(all) {
				t.Fatal("cursor does not end")
			}
			flt.Cursor = next
			if items, next, err = s.List(ctx, flt); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{}
		sorted := slices.Clone(all)
		slices.SortFunc(sorted, func(a, b persistence.Execution) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		for _, e := range sorted {
			if (key == "" || e.IdempotencyKey == key) && (flt.Workflow == "" || e.Workflow == flt.Workflow) &&
				(flt.Status == "" || e.Status == flt.Status) &&
				(flt.CreatedAfter.IsZero() || !e.CreatedAt.Before(flt.CreatedAfter)) &&
				(flt.CreatedBefore.IsZero() || e.CreatedAt.Before(flt.CreatedBefore)) {
				want = append(want, e.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List(%+v) pages give %v, want %v", flt, got, want)
		}
	})
}

// listOrder is what List must return of all for a filter keep: the ids
// of the executions it keeps, newest first, then by id.
func listOrder(all []persistence.Execution, keep func(persistence.Execution) bool) []string {
	var out []persistence.Execution
	for _, e := range all {
		if keep(e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b persistence.Execution) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := []string{}
	for _, e := range out {
		ids = append(ids, e.ID)
	}
	return ids
}
