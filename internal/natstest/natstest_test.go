package natstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/internal/natstest"
)

func TestServerStoresAcrossRestart(t *testing.T) {
	n := natstest.Server(t)
	url := n.URL()
	js := jsClient(t, url)
	ctx := testContext(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.a", []byte("one")); err != nil {
		t.Fatal(err)
	}

	n.Restart(t)
	if got := n.URL(); got != url {
		t.Fatalf("URL after restart = %s, want %s", got, url)
	}
	msg, err := retryGet(ctx, js, "S", "s.a")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if string(msg.Data) != "one" {
		t.Fatalf("data after restart = %q, want one", msg.Data)
	}
}

func TestClusterSurvivesOneServerDown(t *testing.T) {
	nodes := natstest.Cluster(t, 3)
	js := jsClient(t, natstest.URLs(nodes))
	ctx := testContext(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.a", []byte("before")); err != nil {
		t.Fatal(err)
	}

	nodes[0].Shutdown()
	if nodes[0].Server() != nil {
		t.Fatal("Server() of a shut down node is not nil")
	}
	// Two of three replicas are a quorum: publishing goes on (after a
	// leader change if the stopped server led the stream).
	if _, err := retryPublish(ctx, js, "s.a", "during"); err != nil {
		t.Fatalf("publish with one server down: %v", err)
	}

	nodes[0].Restart(t)
	if _, err := retryPublish(ctx, js, "s.a", "after"); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
	s, err := js.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := s.Info(ctx)
		if err == nil && info.State.Msgs == 3 && info.Cluster != nil && currentReplicas(info.Cluster) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("stream did not get its 3 replicas back: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func currentReplicas(c *jetstream.ClusterInfo) int {
	n := 0
	for _, r := range c.Replicas {
		if r.Current {
			n++
		}
	}
	return n
}

func jsClient(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// retryPublish publishes until JetStream answers: during a leader change or
// a reconnect a request can time out or find no responders.
func retryPublish(ctx context.Context, js jetstream.JetStream, subj, data string) (*jetstream.PubAck, error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := js.Publish(attempt, subj, []byte(data))
		cancel()
		if err == nil || ctx.Err() != nil {
			return ack, errors.Join(err, ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func retryGet(ctx context.Context, js jetstream.JetStream, stream, subj string) (*jetstream.RawStreamMsg, error) {
	for {
		msg, err := func() (*jetstream.RawStreamMsg, error) {
			attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			s, err := js.Stream(attempt, stream)
			if err != nil {
				return nil, err
			}
			return s.GetLastMsgForSubject(attempt, subj)
		}()
		if err == nil || ctx.Err() != nil {
			return msg, errors.Join(err, ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
