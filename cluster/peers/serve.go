package peers

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/weft-run/weft/actors"
)

// handle answers another node's request, in order with the others of its
// subscription. A request this node cannot answer in time gets no answer:
// the asker counts this node missing rather than wrong.
func (p *Peers) handle(msg *nats.Msg) {
	q, err := decodeRequest(msg.Data)
	if err != nil {
		p.malformed(err)
		return
	}
	if q.sender == p.cfg.NodeID {
		return // our own request: this node's part is done by the asker
	}
	local, ok := p.enter()
	if !ok {
		return
	}
	defer p.handling.Done()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	a, err := answer(ctx, local, q)
	if err != nil {
		p.log.Warn().Err(err).Stringer("op", q.op).Str("from_node", q.sender).Msg("a peer's request not answered")
		return
	}
	if a == nil || msg.Reply == "" {
		return
	}
	a.node = p.cfg.NodeID
	if err := msg.Respond(a.encode(q.op)); err != nil {
		p.log.Warn().Err(err).Stringer("op", q.op).Str("from_node", q.sender).Msg("answer to a peer not sent")
	}
}

// enter counts a request as being answered, unless Close has begun.
func (p *Peers) enter() (Local, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.local == nil {
		return nil, false
	}
	p.handling.Add(1)
	return p.local, true
}

var errNoAnswer = errors.New("peers: this operation has no answer")

// answer does this node's part of q. A presence change has no answer.
func answer(ctx context.Context, local Local, q *request) (*reply, error) {
	var a reply
	var err error
	switch q.op {
	case opBroadcast:
		a.delivered, a.members, err = local.LocalBroadcast(ctx, actors.RoomMessage{Workspace: q.workspace, Room: q.room,
			From: q.from, Identity: q.identity, Message: q.message})
	case opPresence:
		local.LocalPresence(actors.PresenceChange{Workspace: q.workspace, Room: q.room, Joined: q.joined,
			ConnectionID: q.connID, Identity: q.identity, Total: q.total})
		return nil, nil
	case opRoomSize:
		a.members, err = local.LocalRoomSize(ctx, q.workspace, q.room)
	case opMembers:
		a.memberList, err = local.LocalMembers(ctx, q.workspace, q.room)
	case opConnections:
		a.conns, err = local.LocalConnections(ctx, q.workspace)
	case opSend, opClose:
		a.found, err = local.LocalToConnection(ctx, q.workspace, q.connID, actors.ConnectionMessage{
			Close: q.op == opClose, From: q.from, Message: q.message, Reason: q.reason})
	default:
		return nil, fmt.Errorf("%w: %s", errNoAnswer, q.op)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.op, err)
	}
	return &a, nil
}
