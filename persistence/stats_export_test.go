package persistence

import bolt "go.etcd.io/bbolt"

// DropStats removes the stats bucket, so that the store looks like one
// written before the rollup existed (the next Open backfills it).
func DropStats(s *Store) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bktStats) })
}

// StatsKeys counts the stats bucket's values.
func StatsKeys(s *Store) (n int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktStats).Stats().KeyN
		return nil
	})
	return n, err
}
