package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

var listCases = []testCase{
	{"Filters", testListFilters},
	{"Pages", testListPages},
	{"Refused", testListRefused},
}

// listFixture stores nine executions in ws (and one in another
// workspace): exec_0 oldest, exec_8 newest, exec_4 and exec_5 created at
// the same instant. Workflows alternate wf-even/wf-odd; exec_2 and exec_6
// are completed, exec_3 failed; exec_7 has the idempotency key "k".
// Metadata: batch "a" for even ones, "b" for odd ones, exec_7 also tag
// "x", and exec_8 batch 1 (a number).
func listFixture(t *testing.T, s Store) {
	t.Helper()
	for i := range 9 {
		created := t0.Add(time.Duration(min(i, 4)+max(i-5, 0)) * time.Minute)
		wf := "wf-even"
		if i%2 == 1 {
			wf = "wf-odd"
		}
		e := newExec("ws", wf, fmt.Sprintf("exec_%d", i), created)
		e.Metadata = json.RawMessage(`{"batch":"` + string(rune('a'+i%2)) + `"}`)
		switch i {
		case 7:
			e.IdempotencyKey = "k"
			e.Metadata = json.RawMessage(`{"batch":"b","tag":"x"}`)
		case 8:
			e.Metadata = json.RawMessage(`{"batch":1}`)
		}
		mustCreate(t, s, e)
	}
	mustCreate(t, s, newExec("ws-other", "wf-even", "exec_x", t0.Add(time.Hour)))
	setStatus(t, s, "exec_2", weft.StatusCompleted, time.Time{})
	setStatus(t, s, "exec_6", weft.StatusCompleted, time.Time{})
	setStatus(t, s, "exec_3", weft.StatusFailed, time.Time{})
}

func list(t *testing.T, s Store, f persistence.ListFilter) []string {
	t.Helper()
	items, next, err := s.List(t.Context(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	if next != "" {
		t.Fatalf("List(%+v) has a next page, want one page", f)
	}
	return ids(items)
}

func testListFilters(t *testing.T, s Store) {
	listFixture(t, s)
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	tests := []struct {
		name string
		f    persistence.ListFilter
		want []string
	}{
		// Newest first; exec_4 and exec_5 share an instant: id order.
		{"workspace", persistence.ListFilter{}, []string{"exec_8", "exec_7", "exec_6", "exec_4", "exec_5", "exec_3", "exec_2", "exec_1", "exec_0"}},
		{"status", persistence.ListFilter{Status: weft.StatusCompleted}, []string{"exec_6", "exec_2"}},
		{"status nobody has", persistence.ListFilter{Status: weft.StatusWaiting}, []string{}},
		{"workflow", persistence.ListFilter{Workflow: "wf-odd"}, []string{"exec_7", "exec_5", "exec_3", "exec_1"}},
		{"status and workflow", persistence.ListFilter{Status: weft.StatusRunning, Workflow: "wf-even"}, []string{"exec_8", "exec_4", "exec_0"}},
		{"created after (inclusive)", persistence.ListFilter{CreatedAfter: at(5)}, []string{"exec_8", "exec_7", "exec_6"}},
		{"created before (exclusive)", persistence.ListFilter{CreatedBefore: at(2)}, []string{"exec_1", "exec_0"}},
		{"time range and status", persistence.ListFilter{CreatedAfter: at(1), CreatedBefore: at(6), Status: weft.StatusRunning}, []string{"exec_4", "exec_5", "exec_1"}},
		{"idempotency key", persistence.ListFilter{IdempotencyKey: "k"}, []string{"exec_7"}},
		{"idempotency key of another workflow", persistence.ListFilter{IdempotencyKey: "k", Workflow: "wf-even"}, []string{}},
		{"unknown workspace", persistence.ListFilter{Workspace: "nobody"}, []string{}},
		{"metadata", persistence.ListFilter{Metadata: map[string]string{"batch": "a"}}, []string{"exec_6", "exec_4", "exec_2", "exec_0"}},
		{"metadata, two keys", persistence.ListFilter{Metadata: map[string]string{"batch": "b", "tag": "x"}}, []string{"exec_7"}},
		{"metadata and status", persistence.ListFilter{Metadata: map[string]string{"batch": "a"}, Status: weft.StatusCompleted}, []string{"exec_6", "exec_2"}},
		{"metadata and time range", persistence.ListFilter{Metadata: map[string]string{"batch": "b"}, CreatedBefore: at(4)}, []string{"exec_3", "exec_1"}},
		{"metadata key nobody has", persistence.ListFilter{Metadata: map[string]string{"nope": "a"}}, []string{}},
		{"metadata value not a string", persistence.ListFilter{Metadata: map[string]string{"batch": "1"}}, []string{"exec_8"}},
		{"metadata value not a string, spelt otherwise", persistence.ListFilter{Metadata: map[string]string{"batch": "1.0"}}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f.Workspace == "" {
				f.Workspace = "ws"
			}
			if got := list(t, s, f); !slices.Equal(got, tc.want) {
				t.Fatalf("List = %v, want %v", got, tc.want)
			}
		})
	}
	items, _, err := s.List(t.Context(), persistence.ListFilter{Workspace: "ws", Status: weft.StatusFailed})
	if err != nil || len(items) != 1 || items[0].Status != weft.StatusFailed || items[0].LastSeq != 1 || items[0].Workflow != "wf-odd" {
		t.Fatalf("listed record = %+v, %v", items, err)
	}
}

// Paging with any page size visits every execution once, in order.
func testListPages(t *testing.T, s Store) {
	listFixture(t, s)
	for _, f := range []persistence.ListFilter{{}, {Status: weft.StatusRunning}, {Workflow: "wf-even"}, {Metadata: map[string]string{"batch": "a"}}} {
		f.Workspace = "ws"
		want := list(t, s, f)
		for _, size := range []int{1, 2, 4} {
			var got []string
			f := f
			f.Limit = size
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("%+v: more pages than executions", f)
				}
				items, next, err := s.List(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > size {
					t.Fatalf("page of %d with limit %d", len(items), size)
				}
				got = append(got, ids(items)...)
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages of %d with filter %+v: %v, want %v", size, f, got, want)
			}
		}
	}
}

func testListRefused(t *testing.T, s Store) {
	listFixture(t, s)
	if _, _, err := s.List(t.Context(), persistence.ListFilter{}); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("List without a workspace = %v, want ErrInvalid", err)
	}
	if _, _, err := s.List(t.Context(), persistence.ListFilter{Workspace: "ws", Cursor: "not a cursor!"}); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("List with a bad cursor = %v, want ErrInvalid", err)
	}
}
