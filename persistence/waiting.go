package persistence

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft"
)

// bktWaiting indexes the executions whose status is waiting: id -> the
// time their wait ends (timeLen bytes, appendTimeAsc), or an empty value
// for a wait with no deadline (a signal with no timeout). It is written in
// the same commit as the status change, so it never disagrees with the
// record, and it lets a restart put a sleeping execution back on a timer
// without loading its steps or running its workflow.
var bktWaiting = []byte("waiting")

// putWaiting keeps the waiting index in step with a status change of rec
// (old is the record before it).
func putWaiting(tx *bolt.Tx, old, rec *Execution, wakeAt time.Time) error {
	b := tx.Bucket(bktWaiting)
	if b == nil {
		return nil
	}
	id := []byte(rec.ID)
	switch {
	case rec.Status == weft.StatusWaiting:
		var v []byte
		if !wakeAt.IsZero() {
			v = appendTimeAsc(make([]byte, 0, timeLen), wakeAt)
		} else {
			v = []byte{}
		}
		return b.Put(id, v)
	case old.Status == weft.StatusWaiting:
		return b.Delete(id)
	}
	return nil
}

// WaitingIndex returns, for every execution whose status is waiting and
// that was suspended by this version of weft, when its wait ends (the zero
// time: no deadline). An execution stored waiting without an entry (an
// import, an older data file) is not in the map: run it to learn its wait.
// It costs one read of a small bucket: about 40 bytes per waiting
// execution on disk and in the returned map.
func (s *Store) WaitingIndex(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktWaiting)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var at time.Time
			switch len(v) {
			case 0:
			case timeLen:
				at = time.Unix(int64(binary.BigEndian.Uint64(v)^(1<<63)), int64(binary.BigEndian.Uint32(v[8:]))).UTC()
			default:
				return fmt.Errorf("persistence: malformed waiting entry of %s", k)
			}
			out[string(k)] = at
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
