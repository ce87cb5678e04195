// Package peers carries room and connection traffic between the nodes of
// a weft cluster over core NATS (PROTOCOL.md section 11, issue 15): it is
// the cluster's actors.Peers. Nothing here is stored: a broadcast, a
// presence change or a connection.send is for the sockets open now, so
// core NATS subjects do, not JetStream.
//
// # Subjects
//
// Every node subscribes to two wildcards and answers on the request's
// reply subject:
//   - weft.room.<workspace>.<room>: room.broadcast, presence changes
//     (room.joined / room.left), room sizes and member lists.
//   - weft.ws.<workspace>: a broadcast to the whole workspace,
//     connections.list, connection.send and connection.close.
//
// Workspace and room names become subject tokens through Token, which
// keeps plain names readable and encodes any other (dots, spaces,
// wildcards, non-ASCII) so that no name can reach another's subject.
//
// # Scatter and gather
//
// A request goes to every node and waits for an answer from each live
// node but this one, as the cluster's membership (cluster.Node.Members)
// lists them when the request leaves. A node without members of the room
// answers too (zero): that is how the asker knows it has heard from
// everyone, and why a node does not subscribe per room. A node that does
// not answer within Config.Timeout (1 s) is named in the answer's
// Missing; the numbers count the others. connection.send and
// connection.close stop at the first node that has the connection.
//
// # Encoding
//
// Requests and answers are a version byte, an operation byte, the
// sender's node id and the operation's fields, as uvarint-prefixed
// strings and uvarints (codec.go). Anyone with access to the NATS account
// can publish on these subjects, so decoding checks every length and
// refuses what it does not expect; it is fuzzed.
//
// # Concurrency
//
// Peers is safe for concurrent use. Requests from other nodes are handled
// in order per subscription, on nats.go's delivery goroutine for it, each
// bounded by Config.Timeout: a node's broadcasts reach another node's
// members in the order they were sent. Presence changes are published by
// one goroutine owned by Peers (the callers must not block); Close stops
// it, ends the subscriptions and waits for the requests being handled.
package peers
