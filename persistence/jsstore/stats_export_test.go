package jsstore

import (
	"context"

	"github.com/weft-run/weft/persistence"
)

// RecordEnd is recordEnd, for the tests of package jsstore_test.
func (s *Store) RecordEnd(ctx context.Context, e persistence.Execution) error {
	return s.recordEnd(ctx, e)
}
