package storetest_test

import (
	"path/filepath"
	"testing"

	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/storetest"
)

func TestBbolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := persistence.Open(filepath.Join(t.TempDir(), "weft.db"), persistence.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func openBbolt(t *testing.T) *persistence.Store {
	s, err := persistence.Open(filepath.Join(t.TempDir(), "weft.db"), persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestBboltSchedules(t *testing.T) {
	storetest.RunSchedules(t, func(t *testing.T) storetest.ScheduleStore { return openBbolt(t) })
}

func TestBboltAudit(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T) storetest.AuditStore { return openBbolt(t) })
}

func TestBboltStats(t *testing.T) {
	storetest.RunStats(t, func(t *testing.T) storetest.StatsStore { return openBbolt(t) })
}

func TestBboltRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T) storetest.RetentionStore { return openBbolt(t) })
}

func TestBboltPortable(t *testing.T) {
	storetest.RunPortable(t, func(t *testing.T) storetest.PortableStore { return openBbolt(t) })
}
