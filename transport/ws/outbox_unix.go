//go:build unix

package ws

import "syscall"

// inlineWrites: on Unix a frame can be written from the publishing
// goroutine with one non-blocking write(2) (outbox.writeInline).
const inlineWrites = true

// writeNonBlocking writes as much of b to the non-blocking descriptor fd
// as it takes now; a full socket buffer is not an error.
func writeNonBlocking(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			err = nil
		}
		return max(n, 0), err
	}
}
