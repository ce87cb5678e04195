package persistence

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// Hooks for the external tests of packed llm_delta records (pack.go).

// SetPackDeltas turns packing of new writes on or off and returns a
// function that restores the previous setting. Not safe while writes run.
func SetPackDeltas(on bool) (restore func()) {
	old := packEnabled
	packEnabled = on
	return func() { packEnabled = old }
}

// SetPackMaxBytes changes the size cap of a packed record.
func SetPackMaxBytes(n int) (restore func()) {
	old := packMaxBytes
	packMaxBytes = n
	return func() { packMaxBytes = old }
}

// LogKeys counts the keys of id's event log and how many are packed records.
func LogKeys(s *Store, id string) (keys, packed int, err error) {
	err = s.view(context.Background(), func(tx *bolt.Tx) error {
		log := tx.Bucket(bktEvents).Bucket([]byte(id))
		if log == nil {
			return nil
		}
		return log.ForEach(func(_, v []byte) error {
			keys++
			if len(v) > 0 && v[0] == packMark {
				packed++
			}
			return nil
		})
	})
	return keys, packed, err
}
