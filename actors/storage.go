package actors

import (
	"errors"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// storeError is how a failed store write reaches a client: UNAVAILABLE
// (retryable) while the store cannot write at all, saying why, so that an
// app backs off and an operator knows where to look; INTERNAL otherwise (a
// bug, logged with its cause).
func storeError(err error) error {
	var we *weft.Error
	if errors.As(err, &we) {
		return we // the store already says what the client should see (cluster mode: not available yet)
	}
	switch {
	case errors.Is(err, persistence.ErrStorageFull):
		return &weft.Error{Code: weft.CodeUnavailable, Message: "storage is full: weft cannot record anything until space is freed", Err: err}
	case errors.Is(err, persistence.ErrUnwritable):
		return &weft.Error{Code: weft.CodeUnavailable, Message: "storage cannot be written: weft cannot record anything until it can", Err: err}
	}
	return weft.Internal(err)
}

// writable refuses a write that the store cannot take now, before anything
// else is done for it.
func (s *Service) writable() error {
	if err := s.sys.store.Writable(); err != nil {
		return storeError(err)
	}
	return nil
}
