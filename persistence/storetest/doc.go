// Package storetest is the conformance suite for weft's execution store:
// what the actors need from a store, checked the same way against every
// implementation (bbolt, the single-node default, and JetStream, for
// cluster mode). It follows Watermill's pubsub/tests: one Run with many
// subtests, each on a fresh store from the implementation's open function.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store {
//			s, err := persistence.Open(filepath.Join(t.TempDir(), "weft.db"), persistence.Options{})
//			...
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Store is exactly the set of methods the suite exercises, with the bbolt
// store's signatures, so *persistence.Store satisfies it unchanged. The
// suite checks behaviour, not layout: errors are compared with errors.Is
// against persistence's sentinels (ErrNotFound, ErrSeqGap, ErrExists,
// ErrInvalid, ErrLimit, ErrNotEnded, ErrClosed), event bytes must round
// trip exactly as events.Encode wrote them, and nothing depends on timing.
//
// BenchSteps measures durable steps per second on any Store, so two
// implementations can be compared in one run.
package storetest
