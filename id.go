package weft

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix + a random id whose first characters follow creation
// time, so ids of one prefix sort roughly by age (handy in logs and keys).
func NewID(prefix string) string {
	var b [15]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand never fails on supported platforms
	return prefix + idEncoding.EncodeToString(b[:])
}
