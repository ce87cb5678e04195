package persistence

import (
	"testing"
	"time"
)

// StatsWindow's values cover the window's minutes exactly once, with
// whole hours from the hour tier, and no more values than the bbolt store
// reads (sumWindow).
func TestStatsWindowCoversEachMinuteOnce(t *testing.T) {
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, period := range []Period{PeriodHour, PeriodDay, PeriodWeek} {
		for _, off := range []time.Duration{0, time.Second, 59 * time.Minute, 61*time.Minute + 30*time.Second, 23*time.Hour + 59*time.Minute} {
			now := base.Add(off)
			from, to, slots := StatsWindow(period, now)
			seen := map[time.Time]int{}
			for _, s := range slots {
				unit := time.Minute
				if s.Hour {
					unit = time.Hour
					if !s.Start.Equal(s.Start.Truncate(time.Hour)) {
						t.Fatalf("%s at %v: hour slot %v is not on the hour", period, now, s.Start)
					}
				}
				for m := s.Start; m.Before(s.Start.Add(unit)); m = m.Add(time.Minute) {
					seen[m]++
				}
			}
			minutes := int(period.Duration() / time.Minute)
			if len(seen) != minutes || len(slots) > 2*59+168 {
				t.Fatalf("%s at %v: %d minutes in %d slots, want %d", period, now, len(seen), len(slots), minutes)
			}
			for m, n := range seen {
				if n != 1 || m.Before(from) || m.After(to) {
					t.Fatalf("%s at %v: minute %v counted %d times (window %v to %v)", period, now, m, n, from, to)
				}
			}
		}
	}
}
