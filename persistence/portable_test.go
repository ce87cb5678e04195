package persistence_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/persistence"
)

// Export reads packed llm_delta records as the events they hold, so an
// export imported elsewhere and exported again is the same; importing it
// again is ErrExists (idempotent), and the same id with another history is
// ErrImportConflict.
func TestExportImportPackedDeltas(t *testing.T) {
	defer persistence.SetPackDeltas(true)()
	ctx := context.Background()
	src, _ := openStore(t, persistence.Options{})
	l := newPackLog(t, src, "ex-pack")
	for i := range 40 {
		l.write(delta("1", "tok ", t0.Add(time.Duration(i)*time.Millisecond)))
	}
	if _, packed, err := persistence.LogKeys(src, "ex-pack"); err != nil || packed == 0 {
		t.Fatalf("no packed record (%v): the test is not testing packing", err)
	}
	rec, err := src.Export(ctx, "ex-pack")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != len(l.want) || rec.Execution.LastSeq != uint64(len(l.want)) {
		t.Fatalf("export holds %d events, last_seq %d; want %d", len(rec.Events), rec.Execution.LastSeq, len(l.want))
	}
	for i, raw := range rec.Events {
		if string(raw) != string(l.want[i].JSON) {
			t.Fatalf("event %d exported as %s, stored %s", i+1, raw, l.want[i].JSON)
		}
	}
	if err := src.Import(ctx, rec); !errors.Is(err, persistence.ErrExists) {
		t.Errorf("re-import into its own store: %v, want ErrExists", err)
	}

	dst, _ := openStore(t, persistence.Options{})
	if err := dst.Import(ctx, rec); err != nil {
		t.Fatal(err)
	}
	again, err := dst.Export(ctx, "ex-pack")
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Events) != len(rec.Events) || again.Execution.LastSeq != rec.Execution.LastSeq {
		t.Fatalf("export of the import: %d events, last_seq %d", len(again.Events), again.Execution.LastSeq)
	}
	if err := dst.Import(ctx, rec); !errors.Is(err, persistence.ErrExists) {
		t.Errorf("second import: %v, want ErrExists", err)
	}
	// A shorter history of the same id (an older export) is a prefix: skipped.
	short := rec
	short.Events = rec.Events[:10]
	if err := dst.Import(ctx, short); !errors.Is(err, persistence.ErrExists) {
		t.Errorf("import of a prefix: %v, want ErrExists", err)
	}
	other := rec
	other.Execution.Workflow = "another"
	if err := dst.Import(ctx, other); !errors.Is(err, persistence.ErrImportConflict) || !strings.Contains(err.Error(), "ex-pack") {
		t.Errorf("import of another history: %v, want ErrImportConflict naming the id", err)
	}
}

// ReadRecords names the line of a malformed record.
func TestReadRecordsNamesTheLine(t *testing.T) {
	n := 0
	err := persistence.ReadRecords(strings.NewReader(`{"version":1}`+"\n\n"+`{"version":2}`+"\n"), func(int, persistence.Record) error {
		n++
		return nil
	})
	if n != 1 || !errors.Is(err, persistence.ErrInvalid) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("read %d records, err %v; want 1 and ErrInvalid naming line 3", n, err)
	}
}
