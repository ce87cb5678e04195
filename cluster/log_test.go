package cluster_test

import (
	"os"

	"github.com/rs/zerolog"
)

// testLogger shows the nodes' logs when CLUSTER_TEST_LOG=1 (nil: none).
func testLogger() *zerolog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") == "" {
		return nil
	}
	l := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	return &l
}
