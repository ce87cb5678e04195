package actors

import (
	"strings"
	"testing"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// The unfinished count counts an execution once, by id, through starts,
// recoveries, ends and partitions moving away and back.
func TestUnfinishedCountByID(t *testing.T) {
	c := newUnfinishedCount(2)
	if err := c.reserve("acme", "p1_a"); err != nil {
		t.Fatal(err)
	}
	// A partition acquired holds p1_a (counted) and p2_b.
	c.add([]persistence.Execution{{ID: "p1_a", Workspace: "acme"}, {ID: "p2_b", Workspace: "acme"}})
	if err := c.reserve("acme", "p1_c"); weft.ErrorCode(err) != weft.CodeLimitExceeded {
		t.Fatalf("third of a limit of 2: %v", err)
	}
	// Partition 2 lost: its execution is the next owner's to count.
	c.drop(func(id string) bool { return strings.HasPrefix(id, "p2_") })
	if err := c.reserve("acme", "p1_c"); err != nil {
		t.Fatalf("after the partition went: %v", err)
	}
	// Ends: twice, and of an id never counted, change nothing more.
	c.release("p1_a")
	c.release("p1_a")
	c.release("p2_b")
	if c.n["acme"] != 1 || len(c.ids) != 1 {
		t.Fatalf("after the ends: %v %v", c.n, c.ids)
	}
	c.release("p1_c")
	if len(c.n) != 0 || len(c.ids) != 0 {
		t.Fatalf("all ended: %v %v", c.n, c.ids)
	}
	// No limit.
	free := newUnfinishedCount(-1)
	for _, id := range []string{"a", "b", "c"} {
		if err := free.reserve("ws", id); err != nil {
			t.Fatal(err)
		}
	}
}
