package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BroadcastOptions configure the broadcast scenario.
type BroadcastOptions struct {
	Members    int     // sockets in the room
	Broadcasts int     // how many broadcasts to send
	Rate       float64 // broadcasts per second
	Parallel   int     // dials in flight while joining (default 64)
	// MessageBytes pads each broadcast's message ({"n":b,"pad":"..."}) to
	// this many bytes of JSON; 0 sends {"n":b}.
	MessageBytes int
}

// Broadcast puts Members sockets in one room (presence off, as large rooms
// should), has one more socket broadcast to it at Rate (open loop: without
// waiting for the previous answer), and measures for each broadcast the
// time until the last member received it, and until the server answered. It checks that
// every member got every message.
//
// When the server's pid is known (t.PID), the report has the server's CPU
// time over the broadcast phase only (first broadcast sent to last
// delivery, joins excluded) and per delivery.
func Broadcast(ctx context.Context, t Target, o BroadcastOptions, progress Progress) (Report, error) {
	if err := t.CheckLoopback(); err != nil {
		return Report{}, err
	}
	if o.Parallel <= 0 {
		o.Parallel = 64
	}
	if limit := t.Rate * RateShare; t.Rate > 0 && o.Rate > limit {
		return Report{}, fmt.Errorf("%w: %g broadcasts per second from one socket is over %g (%.0f%% of the server's %g messages per second per connection)",
			ErrOverRate, o.Rate, limit, RateShare*100, t.Rate)
	}
	room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	members := make([]*conn, o.Members)
	defer func() {
		for _, c := range members {
			if c != nil {
				c.close()
			}
		}
	}()
	// received[i][b] is when member i got broadcast b.
	received := make([][]int64, o.Members)
	var joined atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.Parallel)
	var joinErr atomic.Value
	for i := range o.Members {
		received[i] = make([]int64, o.Broadcasts)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := dial(t)
			if err == nil {
				err = joinQuietly(c, room)
			}
			if err != nil {
				joinErr.Store(err)
				return
			}
			members[i] = c
			joined.Add(1)
			go c.collect(received[i])
		}()
		if i%500 == 0 {
			progress.say("joining: %d of %d", joined.Load(), o.Members)
		}
	}
	wg.Wait()
	if err, _ := joinErr.Load().(error); err != nil {
		return Report{}, fmt.Errorf("joining: %w", err)
	}
	sender, err := dial(t)
	if err != nil {
		return Report{}, err
	}
	defer sender.close()
	sender.run()

	sentAt := make([]int64, o.Broadcasts)
	cpu, err := startCPU(t)
	if err != nil {
		return Report{}, err
	}
	// Open loop: broadcast b is sent at its time whether or not the
	// server has answered the ones before (requests are multiplexed on the
	// sender's socket), so the offered rate is Rate even when the server
	// is slower; a server that cannot keep up shows it in the latencies.
	interval := time.Duration(float64(time.Second) / o.Rate)
	began := time.Now()
	var sendErrs atomic.Int64
	var kinds tally
	var firstErr atomic.Value // string: the first failed answer
	answer := newLatency()
	var answers sync.WaitGroup
	for b := range o.Broadcasts {
		next := began.Add(time.Duration(b) * interval)
		time.Sleep(time.Until(next))
		if ctx.Err() != nil {
			return Report{}, ctx.Err()
		}
		sent := time.Now()
		sentAt[b] = sent.UnixNano()
		id := fmt.Sprintf("b%d", b)
		ch, err := sender.request(id, "room.broadcast", map[string]any{"room": room, "message": broadcastMessage(b, o.MessageBytes)})
		if err != nil {
			return Report{}, err
		}
		answers.Add(1)
		go func() {
			defer answers.Done()
			defer sender.forget(id)
			select {
			case f := <-ch:
				answer.record(time.Since(sent))
				if f.Error != nil {
					sendErrs.Add(1)
					kinds.add(fmt.Errorf("%s: %s", f.Error.Code, f.Error.Message))
					firstErr.CompareAndSwap(nil, f.Error.Code+": "+f.Error.Message)
				}
			case <-time.After(30 * time.Second):
				sendErrs.Add(1)
				kinds.add(errors.New("no answer in 30s"))
				firstErr.CompareAndSwap(nil, "no answer in 30s")
			}
		}()
		progress.say("broadcast %d of %d", b+1, o.Broadcasts)
	}
	sendTime := time.Since(began)
	answers.Wait()
	// Wait for the last deliveries (bounded). Members receive in order,
	// so each member's last slot tells whether it is done; a member still
	// waiting is checked again first.
	lastMember, missing := newLatency(), int64(0)
	deadline := time.Now().Add(10 * time.Second)
	for next := 0; next < len(received) && o.Broadcasts > 0; {
		if atomic.LoadInt64(&received[next][o.Broadcasts-1]) != 0 {
			next++
			continue
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range received {
		for b := range received[i] {
			if atomic.LoadInt64(&received[i][b]) == 0 {
				missing++
			}
		}
	}
	deliveries := float64(int64(o.Members*o.Broadcasts) - missing)
	var cpuReport Report
	cpu.stop(&cpuReport, deliveries)
	for b := range o.Broadcasts {
		var last int64
		for i := range received {
			last = max(last, atomic.LoadInt64(&received[i][b]))
		}
		if last > 0 {
			lastMember.record(time.Duration(last - sentAt[b]))
		}
	}
	kinds.addN("missing delivery", missing)
	params := map[string]any{"members": o.Members, "broadcasts": o.Broadcasts, "rate": o.Rate, "message_bytes": len(broadcastMessage(0, o.MessageBytes))}
	if e, ok := firstErr.Load().(string); ok {
		params["first_answer_error"] = e
	}
	return Report{
		Scenario: "broadcast",
		Params:   params,
		Elapsed:  time.Since(began),
		Figures: map[string]float64{
			"broadcasts_per_second": float64(o.Broadcasts) / sendTime.Seconds(),
			"deliveries":            deliveries,
			"missing_deliveries":    float64(missing),
		},
		Latencies:  map[string]Summary{"broadcast_to_last_member": lastMember.summary(), "broadcast_answer": answer.summary()},
		Errors:     sendErrs.Load() + missing,
		ErrorKinds: kinds.counts(),
		ServerCPU:  cpuReport.ServerCPU,
		ClientCPU:  cpuReport.ClientCPU,
	}, nil
}

// broadcastMessage is the message of broadcast b: {"n":b}, padded with a
// "pad" string to size bytes when size is larger.
func broadcastMessage(b, size int) json.RawMessage {
	msg := fmt.Sprintf(`{"n":%d}`, b)
	if len(msg) >= size {
		return json.RawMessage(msg)
	}
	base := fmt.Sprintf(`{"n":%d,"pad":""}`, b)
	return json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, b, strings.Repeat("x", max(0, size-len(base)))))
}

// joinQuietly joins room without presence (no reader runs yet).
func joinQuietly(c *conn, room string) error {
	if err := c.ws.WriteJSON(map[string]any{"id": "join", "service": "room.join", "request": map[string]any{"room": room, "presence": false}}); err != nil {
		return err
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.ws.SetReadDeadline(time.Time{})
	for {
		var f frame
		if err := c.ws.ReadJSON(&f); err != nil {
			return err
		}
		if f.ID == "join" {
			if f.Error != nil {
				return fmt.Errorf("%s: %s", f.Error.Code, f.Error.Message)
			}
			return nil
		}
	}
}

// collect records the arrival time of each room.message {"n": b}. It
// reads each frame into one reused buffer and finds "n" without decoding
// the whole frame (full JSON only when the fast path does not match): with
// thousands of members on the same cores as the server, the load client's
// CPU per message would otherwise exceed the server's.
func (c *conn) collect(at []int64) {
	buf := make([]byte, 0, 512)
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		buf, err = readAll(r, buf[:0])
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if n, ok := messageNumber(buf); ok && n >= 0 && n < len(at) {
			atomic.StoreInt64(&at[n], now)
		}
	}
}

// readAll appends r to buf, growing it only when a frame is larger than
// any before.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

var (
	roomMessageType = []byte(`"type":"room.message"`)
	messageN        = []byte(`"message":{"n":`)
)

// messageNumber returns b of a room.message push whose message is
// {"n":b,...}; ok is false for any other frame.
func messageNumber(frame []byte) (int, bool) {
	if !bytes.Contains(frame, roomMessageType) {
		return 0, false
	}
	if i := bytes.Index(frame, messageN); i >= 0 {
		n, digits := 0, 0
		for _, ch := range frame[i+len(messageN):] {
			if ch < '0' || ch > '9' {
				break
			}
			n, digits = n*10+int(ch-'0'), digits+1
		}
		if digits > 0 && digits < 10 {
			return n, true
		}
	}
	var f struct {
		Type string `json:"type"`
		Data struct {
			Message struct {
				N *int `json:"n"`
			} `json:"message"`
		} `json:"data"`
	}
	if json.Unmarshal(frame, &f) != nil || f.Type != "room.message" || f.Data.Message.N == nil {
		return 0, false
	}
	return *f.Data.Message.N, true
}
