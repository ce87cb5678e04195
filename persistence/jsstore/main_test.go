package jsstore

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test shuts its servers and stores down: no goroutine may outlive
// the tests (a drain that never ends, a watcher never stopped).
//
// Except two of nats-server's own: an embedded server shut down while it
// is still recovering its streams (natstest.Restart under load) leaves
// those streams' state flushers running, and its access-time ticker is
// process-wide. Neither is weft's to stop; the CI saw them once in ~20
// runs.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	)
}
