package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// holder is the value of a lease: which node, and which run of it, holds
// the partition. The instance tells a node's current run from an earlier
// one that died with the same node id: a restarted node never adopts the
// leases of its previous run, it waits for them to expire.
type holder struct {
	Node     string `json:"node"`
	Instance string `json:"instance"`
}

// Member is a live node, as its heartbeat in the nodes bucket says.
type Member struct {
	ID        string    `json:"id"`
	Address   string    `json:"address,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Instance  string    `json:"instance"`
}

// maxValueLen bounds what is decoded from a bucket: values are written by
// weft nodes, but anyone with access to the NATS account can write there.
const maxValueLen = 4096

var errBadValue = errors.New("cluster: malformed bucket value")

func decodeHolder(b []byte) (holder, error) {
	var h holder
	if err := decodeValue(b, &h); err != nil {
		return holder{}, err
	}
	if h.Node == "" || h.Instance == "" {
		return holder{}, fmt.Errorf("%w: lease without node or instance", errBadValue)
	}
	return h, nil
}

func decodeMember(b []byte) (Member, error) {
	var m Member
	if err := decodeValue(b, &m); err != nil {
		return Member{}, err
	}
	if m.ID == "" || m.Instance == "" {
		return Member{}, fmt.Errorf("%w: heartbeat without id or instance", errBadValue)
	}
	return m, nil
}

func decodeValue(b []byte, v any) error {
	if len(b) > maxValueLen {
		return fmt.Errorf("%w: %d bytes", errBadValue, len(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", errBadValue, err)
	}
	return nil
}

func mustEncode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cluster: encode %T: %v", v, err)) // plain structs of strings cannot fail
	}
	return b
}
