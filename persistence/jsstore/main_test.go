package jsstore

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test shuts its servers and stores down: no goroutine may outlive
// the tests (a drain that never ends, a watcher never stopped).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
