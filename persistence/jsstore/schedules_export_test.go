package jsstore

import "testing"

// SetScheduleLimit lowers the per-workspace schedule limit for one test.
func SetScheduleLimit(t testing.TB, n int) {
	old := scheduleLimit
	scheduleLimit = n
	t.Cleanup(func() { scheduleLimit = old })
}
