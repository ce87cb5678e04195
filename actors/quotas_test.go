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

// In cluster mode a node enforces its partitions' share of the limit.
func TestUnfinishedCountShare(t *testing.T) {
	own := newOwnership(&ClusterConfig{Partitions: 4, PartitionOf: func(string, int) int { return 0 }})
	c := newUnfinishedCount(10)
	c.share = own.share
	own.set(0, true) // 1 of 4 partitions: ceil(10/4) = 3
	for _, id := range []string{"a", "b", "c"} {
		if err := c.reserve("acme", id); err != nil {
			t.Fatalf("%s within the share: %v", id, err)
		}
	}
	err := c.reserve("acme", "d")
	if weft.ErrorCode(err) != weft.CodeLimitExceeded || !strings.Contains(err.Error(), "share") {
		t.Fatalf("past the share: %v", err)
	}
	if err := c.reserve("other", "x"); err != nil {
		t.Fatalf("another workspace: %v", err)
	}
	own.set(1, true) // 2 of 4: 5
	for _, id := range []string{"d", "e"} {
		if err := c.reserve("acme", id); err != nil {
			t.Fatalf("%s after a partition more: %v", id, err)
		}
	}
	if err := c.reserve("acme", "f"); weft.ErrorCode(err) != weft.CodeLimitExceeded {
		t.Fatalf("past the larger share: %v", err)
	}
	for p := 2; p < 4; p++ {
		own.set(p, true)
	}
	if got := own.share(10); got != 10 {
		t.Fatalf("all partitions: share %d, want 10", got)
	}
}
