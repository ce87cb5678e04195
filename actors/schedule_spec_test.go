package actors

import (
	"testing"
	"time"

	"github.com/weft-run/weft"
)

// Internal test: the next-firing arithmetic of a parsed spec. The protocol
// side (INVALID_REQUEST for bad specs) is tested over the socket in
// server/schedules_test.go.
func TestScheduleSpecAfter(t *testing.T) {
	anchor := time.Date(2026, 3, 28, 12, 0, 0, 500, time.UTC)
	paris, _ := time.LoadLocation("Europe/Paris")
	cases := []struct {
		name            string
		cron, tz, every string
		after, want     time.Time
	}{
		{name: "every: first firing is one interval after the anchor", every: "30s",
			after: anchor, want: anchor.Add(30 * time.Second)},
		{name: "every: before the anchor", every: "30s",
			after: anchor.Add(-time.Hour), want: anchor},
		{name: "every: keeps the anchor's phase", every: "30s",
			after: anchor.Add(95 * time.Second), want: anchor.Add(120 * time.Second)},
		{name: "every: strictly after a firing time", every: "1m",
			after: anchor.Add(time.Minute), want: anchor.Add(2 * time.Minute)},
		{name: "cron UTC", cron: "15 * * * *",
			after: anchor, want: time.Date(2026, 3, 28, 12, 15, 0, 0, time.UTC)},
		{name: "cron strictly after a match", cron: "15 * * * *",
			after: time.Date(2026, 3, 28, 12, 15, 0, 0, time.UTC), want: time.Date(2026, 3, 28, 13, 15, 0, 0, time.UTC)},
		{name: "cron in a zone (UTC+1)", cron: "0 9 * * *", tz: "Europe/Paris",
			after: anchor, want: time.Date(2026, 3, 29, 9, 0, 0, 0, paris)},
		{name: "cron in a zone after the DST change (UTC+2)", cron: "0 9 * * *", tz: "Europe/Paris",
			after: time.Date(2026, 3, 29, 9, 0, 0, 0, paris), want: time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)},
		{name: "cron weekdays", cron: "0 9 * * 1-5", tz: "Europe/Paris",
			after: anchor, want: time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)}, // 28 March 2026 is a Saturday
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := parseScheduleSpec(tc.cron, tc.tz, tc.every, anchor)
			if err != nil {
				t.Fatal(err)
			}
			got := sp.after(tc.after)
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("after(%s) = %s, want %s (in UTC)", tc.after, got, tc.want.UTC())
			}
		})
	}
}

func TestScheduleSpecInvalid(t *testing.T) {
	for _, tc := range []struct{ cron, tz, every string }{
		{}, {cron: "* * * * *", every: "1m"}, {cron: "* * * * * *"}, {cron: "@daily"},
		{cron: "TZ=UTC * * * *"}, {cron: "0 0 31 2 *"}, {cron: "0 9 * * *", tz: "Nowhere/City"},
		{cron: "0 9 * * *", tz: "Local"}, {every: "1m", tz: "UTC"}, {every: "999ms"}, {every: "soon"},
	} {
		_, err := parseScheduleSpec(tc.cron, tc.tz, tc.every, time.Now())
		if weft.ErrorCode(err) != weft.CodeInvalidRequest {
			t.Errorf("parseScheduleSpec(%q, %q, %q) = %v, want INVALID_REQUEST", tc.cron, tc.tz, tc.every, err)
		}
	}
}
