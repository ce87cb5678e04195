//go:build !unix

package ws

import "errors"

// inlineWrites: elsewhere (Windows) every frame goes through the
// connection's writer goroutine.
const inlineWrites = false

func writeNonBlocking(uintptr, []byte) (int, error) {
	return 0, errors.New("inline writes are not supported on this platform")
}
