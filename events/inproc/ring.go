package inproc

// ring is a subscriber's FIFO of envelopes. It starts empty (no buffer),
// grows by doubling up to the queue bound, and gives its buffer back when
// drained, so an idle subscriber holds at most a few words of it.
type ring struct {
	buf  []*envelope
	head int
	n    int
}

// keepIdle is the largest buffer kept by an idle subscriber: reusing it
// saves an allocation per burst for the common few-events burst.
const keepIdle = 8

func (r *ring) len() int { return r.n }

// push appends e; limit caps the buffer's growth (the caller never pushes
// more than limit).
func (r *ring) push(e *envelope, limit int) {
	if r.n == len(r.buf) {
		r.grow(limit)
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

func (r *ring) grow(limit int) {
	size := max(min(2*len(r.buf), limit), 4, r.n+1)
	buf := make([]*envelope, size)
	k := copy(buf, r.buf[r.head:])
	copy(buf[k:], r.buf[:r.head])
	r.buf, r.head = buf, 0
}

// peek returns the head, or nil when empty.
func (r *ring) peek() *envelope {
	if r.n == 0 {
		return nil
	}
	return r.buf[r.head]
}

// pop removes the head; the slot is cleared so the envelope can be freed.
func (r *ring) pop() {
	if r.n == 0 {
		return
	}
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if r.n == 0 {
		r.head = 0
	}
}

// shrink drops an empty ring's buffer unless it is small.
func (r *ring) shrink() {
	if r.n == 0 && len(r.buf) > keepIdle {
		*r = ring{}
	}
}
