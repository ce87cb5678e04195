package workflows_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoStoreImported: a workflow author's packages must not pull in a
// store (issue 15). The developer API meets checkpoints and artifacts
// through packages checkpoint and weft, never persistence, artifacts,
// bbolt or NATS.
func TestNoStoreImported(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/weft-run/weft/workflows").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, store := range []string{"github.com/weft-run/weft/persistence", "github.com/weft-run/weft/artifacts",
			"go.etcd.io/bbolt", "github.com/nats-io/"} {
			if strings.HasPrefix(dep, store) {
				t.Errorf("package workflows depends on %s", dep)
			}
		}
	}
}
