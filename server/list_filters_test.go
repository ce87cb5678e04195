package server_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestListFiltersOnBothSurfaces: executions.list's idempotency_key,
// created_after (inclusive) and created_before (exclusive) filters give
// the same pages over the socket and over GET /api/v1/executions, and a
// time that is not RFC 3339 is INVALID_REQUEST on both.
func TestListFiltersOnBothSurfaces(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	start := func(c *client, workflow, key string, params map[string]any) string {
		t.Helper()
		f := c.call("s-"+workflow+key, "workflow.start", map[string]any{
			"name": workflow, "parameters": params, "idempotency_key": key, "subscribe": false})
		if f.Error != nil {
			t.Fatalf("start %s %s: %+v", workflow, key, f.Error)
		}
		return decode[execSnapshot](t, f.Response).ExecutionID
	}
	keyOf := map[string]string{} // execution id -> the key it was started with
	for i := range 6 {
		key := fmt.Sprintf("key-%d", i)
		keyOf[start(c, "echo", key, nil)] = key
	}
	keyOf[start(c, "countdown", "key-0", map[string]any{"steps": 1})] = "key-0" // the same key, another workflow
	start(dial(t, ts, otherToken), "echo", "key-0", nil)

	type item struct {
		ID        string    `json:"execution_id"`
		Workflow  string    `json:"workflow"`
		CreatedAt time.Time `json:"created_at"`
	}
	type page struct {
		Items []item `json:"items"`
	}
	all := decode[page](t, c.call("all", "executions.list", map[string]any{}).Response).Items
	if len(all) != 7 {
		t.Fatalf("%d executions listed, want 7", len(all))
	}
	mid := all[3].CreatedAt
	expect := func(keep func(item) bool) []string {
		ids := []string{}
		for _, it := range all {
			if keep(it) {
				ids = append(ids, it.ID)
			}
		}
		return ids
	}
	cases := []struct {
		name   string
		filter map[string]string
		want   []string
	}{
		{"key in every workflow", map[string]string{"idempotency_key": "key-0"},
			expect(func(it item) bool { return keyOf[it.ID] == "key-0" })},
		{"key of one workflow", map[string]string{"idempotency_key": "key-0", "workflow": "echo"},
			expect(func(it item) bool { return keyOf[it.ID] == "key-0" && it.Workflow == "echo" })},
		{"unknown key", map[string]string{"idempotency_key": "key-9"}, []string{}},
		{"created_after is inclusive", map[string]string{"created_after": mid.Format(time.RFC3339Nano)},
			expect(func(it item) bool { return !it.CreatedAt.Before(mid) })},
		{"created_before is exclusive", map[string]string{"created_before": mid.Format(time.RFC3339Nano)},
			expect(func(it item) bool { return it.CreatedAt.Before(mid) })},
		{"a range in another zone", map[string]string{
			"created_after":  all[5].CreatedAt.In(time.FixedZone("x", 5*3600)).Format(time.RFC3339Nano),
			"created_before": all[1].CreatedAt.Format(time.RFC3339Nano)},
			expect(func(it item) bool {
				return !it.CreatedAt.Before(all[5].CreatedAt) && it.CreatedAt.Before(all[1].CreatedAt)
			})},
	}
	if len(cases[0].want) != 2 || len(cases[4].want) == 0 {
		t.Fatalf("the cases select %v and %v: they test nothing", cases[0].want, cases[4].want)
	}
	ids := func(items []item) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{}
			q := url.Values{}
			for k, v := range tc.filter {
				req[k] = v
				q.Set(k, v)
			}
			f := c.call("l", "executions.list", req)
			if f.Error != nil {
				t.Fatalf("socket: %+v", f.Error)
			}
			if got := ids(decode[page](t, f.Response).Items); !slices.Equal(got, tc.want) {
				t.Errorf("socket lists %v, want %v", got, tc.want)
			}
			r := httpDo(t, ts, "GET", "/api/v1/executions?"+q.Encode(), adminToken, nil)
			r.expectStatus(t, 200)
			if got := ids(decode[page](t, r.body).Items); !slices.Equal(got, tc.want) {
				t.Errorf("HTTP lists %v, want %v", got, tc.want)
			}
		})
	}

	for _, bad := range []map[string]string{
		{"created_after": "yesterday"},
		{"created_before": "2026-13-01T00:00:00Z"},
		{"created_after": "2026-01-10"}, // a date alone is not RFC 3339
	} {
		req, q := map[string]any{}, url.Values{}
		for k, v := range bad {
			req[k] = v
			q.Set(k, v)
		}
		if f := c.call("bad", "executions.list", req); f.Error == nil || f.Error.Code != "INVALID_REQUEST" {
			t.Errorf("socket %v: %+v, want INVALID_REQUEST", bad, f.Error)
		}
		httpDo(t, ts, "GET", "/api/v1/executions?"+q.Encode(), adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
	}
	if f := c.call("bad-type", "executions.list", map[string]any{"created_after": 1700000000}); f.Error == nil || f.Error.Code != "INVALID_REQUEST" {
		t.Errorf("a number as created_after: %+v, want INVALID_REQUEST", f.Error)
	}
}

// TestListMetadataFilterOnBothSurfaces: executions.list's metadata filter
// keeps the executions whose metadata has each key with the value (a
// string, or another JSON value spelt so), the same over the socket and
// over GET /api/v1/executions?metadata=KEY=VALUE; a malformed filter is
// INVALID_REQUEST on both.
func TestListMetadataFilterOnBothSurfaces(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	start := func(metadata map[string]any) string {
		t.Helper()
		f := c.call("s", "workflow.start", map[string]any{"name": "echo", "metadata": metadata, "subscribe": false})
		if f.Error != nil {
			t.Fatalf("start: %+v", f.Error)
		}
		return decode[execSnapshot](t, f.Response).ExecutionID
	}
	a1 := start(map[string]any{"team": "a"})
	a2 := start(map[string]any{"team": "a", "n": 3})
	b := start(map[string]any{"team": "b", "n": 3})
	start(nil)
	start(map[string]any{"team": map[string]any{"nested": "a"}})

	type page struct {
		Items []struct {
			ID string `json:"execution_id"`
		} `json:"items"`
	}
	ids := func(p page) []string {
		out := []string{}
		for _, it := range p.Items {
			out = append(out, it.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for _, tc := range []struct {
		filter map[string]string
		want   []string
	}{
		{map[string]string{"team": "a"}, sorted(a1, a2)},
		{map[string]string{"n": "3"}, sorted(a2, b)},
		{map[string]string{"team": "b", "n": "3"}, sorted(b)},
		{map[string]string{"team": "c"}, []string{}},
	} {
		f := c.call("l", "executions.list", map[string]any{"metadata": tc.filter})
		if f.Error != nil {
			t.Fatalf("socket %v: %+v", tc.filter, f.Error)
		}
		if got := ids(decode[page](t, f.Response)); !slices.Equal(got, tc.want) {
			t.Errorf("socket %v lists %v, want %v", tc.filter, got, tc.want)
		}
		q := url.Values{}
		for k, v := range tc.filter {
			q.Add("metadata", k+"="+v)
		}
		r := httpDo(t, ts, "GET", "/api/v1/executions?"+q.Encode(), adminToken, nil)
		r.expectStatus(t, 200)
		if got := ids(decode[page](t, r.body)); !slices.Equal(got, tc.want) {
			t.Errorf("HTTP %s lists %v, want %v", q.Encode(), got, tc.want)
		}
	}

	tooMany := map[string]any{}
	for i := range 17 {
		tooMany[fmt.Sprint("k", i)] = "v"
	}
	for _, bad := range []any{map[string]any{"team": 1}, tooMany, map[string]any{"": "a"}, "team=a"} {
		if f := c.call("bad", "executions.list", map[string]any{"metadata": bad}); f.Error == nil || f.Error.Code != "INVALID_REQUEST" {
			t.Errorf("socket metadata %v: %+v, want INVALID_REQUEST", bad, f.Error)
		}
	}
	httpDo(t, ts, "GET", "/api/v1/executions?metadata=team", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
	httpDo(t, ts, "GET", "/api/v1/executions?metadata==a", adminToken, nil).expectError(t, 400, "INVALID_REQUEST")
}
