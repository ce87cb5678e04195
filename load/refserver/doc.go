// Package refserver is the reference that `weft bench broadcast` measures
// weft's room fan-out against: the broadcast server a careful engineer
// would write on bare gorilla/websocket, and nothing else.
//
// It speaks exactly the part of weft's wire protocol (docs/PROTOCOL.md)
// that the broadcast scenario of package load uses:
//
//   - the upgrade at /api/v1/socket (alias /ws); any token is accepted
//     (Authorization: Bearer or ?token=), there is no auth and no limit
//     beyond the 64 KiB frame size, which is why it only listens on
//     loopback;
//   - the `connected` push, first on every socket;
//   - `room.join` and `room.leave`, answered with {"room","members":n};
//   - `room.broadcast` over the socket, answered with
//     {"broadcast":true,"delivered_to":n,"subscriber_count":m}, pushing
//     {"type":"room.message","data":{"from","identity","message","room"}}
//     to every member but the sender, as weft does;
//   - `{"type":"ping"}`, answered with a pong.
//
// How it is built, all of it the usual bare-gorilla design:
//
//   - one reader goroutine per connection (the HTTP server's), which
//     decodes requests and answers them;
//   - a room is a mutex-protected set of connections, with a member slice
//     rebuilt only when the set changed since the last broadcast;
//   - a broadcast encodes its push once, wraps it in one
//     websocket.PreparedMessage (the frame bytes are built once and shared
//     by every connection), and writes it to every member.
//
// How the member writes happen is Options.Mode. Inline (the default): the
// broadcasting connection's reader writes the prepared frame to each
// member, under that member's write mutex, with one deadline for the
// whole fan-out; a room of 256 members or more is split into
// Options.Workers contiguous shares (default GOMAXPROCS) written in
// parallel, and the broadcast is answered when every share is written, so
// each member still gets broadcasts in order. Writer: every connection
// has its own writer goroutine and a small queue, and a broadcast only
// queues the frame. On loopback a frame write is a short non-blocking
// syscall, so Inline does the least work per delivery (no goroutine
// wake-up and no channel per member): at 1,000 members x 50/s it used
// 9.4 µs of server CPU per delivery and reached the last member in 20 ms
// (p50), against 12.9 µs and 47 ms for Writer. Writer isolates a slow
// member (its full queue closes it instead of delaying the others) and is
// kept to measure that cost (`weft bench broadcast --reference --ref-mode
// writer`).
//
// Nothing is stored, nothing is authenticated, nothing crosses a node: it
// is a yardstick, not a product.
package refserver
