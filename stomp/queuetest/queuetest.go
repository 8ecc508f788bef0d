// Package queuetest is the conformance suite of stomp.QueueStore
// implementations: every engine (Redis Streams, and others to come) runs
// it from its own tests with a factory of nodes on one shared backend.
package queuetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/stomp"
)

// NewNode returns a QueueStore as one node sees it; every call for the
// same test shares the queues (the same backend). The factory cleans up
// after the test.
type NewNode func(t *testing.T) stomp.QueueStore

const wait = 10 * time.Second

// Run runs the suite.
func Run(t *testing.T, newNode NewNode) {
	t.Run("order, ack", func(t *testing.T) { testOrderAck(t, newNode) })
	t.Run("once across nodes", func(t *testing.T) { testOnceAcrossNodes(t, newNode) })
	t.Run("refused offer comes back after Ready", func(t *testing.T) { testRefused(t, newNode) })
	t.Run("release redelivers", func(t *testing.T) { testRelease(t, newNode) })
	t.Run("close gives back what was not delivered", func(t *testing.T) { testCloseGivesBack(t, newNode) })
}

// queueName is unique per test, so that runs on one backend do not mix.
func queueName(t *testing.T) string {
	return fmt.Sprintf("/queue/conf-%s-%d", strings.NewReplacer("/", "-", " ", "_", ",", "").Replace(t.Name()), time.Now().UnixNano())
}

// recorder collects deliveries; accept says whether to take each.
type recorder struct {
	mu     sync.Mutex
	got    []stomp.QueuedMessage
	accept func(stomp.QueuedMessage) bool
	more   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{accept: func(stomp.QueuedMessage) bool { return true }, more: make(chan struct{}, 1000)}
}

func (r *recorder) deliver(m stomp.QueuedMessage) bool {
	r.mu.Lock()
	accept := r.accept
	r.mu.Unlock()
	if !accept(m) {
		return false
	}
	r.mu.Lock()
	r.got = append(r.got, m)
	r.mu.Unlock()
	r.more <- struct{}{}
	return true
}

func (r *recorder) waitN(t *testing.T, n int) []stomp.QueuedMessage {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		got := append([]stomp.QueuedMessage(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("%d of %d messages", len(got), n)
		}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func consume(t *testing.T, s stomp.QueueStore, q string, r *recorder) stomp.QueueConsumer {
	t.Helper()
	c, err := s.Consume(q, r.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func put(t *testing.T, s stomp.QueueStore, q string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := s.Put(context.Background(), q, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func bodies(ms []stomp.QueuedMessage) string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Payload))
	}
	return strings.Join(out, ",")
}

// Messages put before anyone consumes wait, come in order, and once
// acknowledged never come back.
func testOrderAck(t *testing.T, newNode NewNode) {
	s, q := newNode(t), queueName(t)
	put(t, s, q, "a", "b", "c")
	r := newRecorder()
	c := consume(t, s, q, r)
	got := r.waitN(t, 3)
	if bodies(got) != "a,b,c" {
		t.Fatalf("got %s", bodies(got))
	}
	for _, m := range got {
		if err := c.Ack(context.Background(), m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	again := newRecorder()
	consume(t, s, q, again)
	time.Sleep(300 * time.Millisecond)
	if n := again.count(); n != 0 {
		t.Fatalf("%d acknowledged messages came back", n)
	}
}

// Two nodes consuming one queue get each message exactly once.
func testOnceAcrossNodes(t *testing.T, newNode NewNode) {
	a, b, q := newNode(t), newNode(t), queueName(t)
	ra, rb := newRecorder(), newRecorder()
	ca, cb := consume(t, a, q, ra), consume(t, b, q, rb)
	const n = 50
	for i := range n {
		put(t, []stomp.QueueStore{a, b}[i%2], q, fmt.Sprint(i))
	}
	deadline := time.Now().Add(wait)
	for ra.count()+rb.count() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show
	seen := map[string]int{}
	for _, rc := range []struct {
		r *recorder
		c stomp.QueueConsumer
	}{{ra, ca}, {rb, cb}} {
		rc.r.mu.Lock()
		got := append([]stomp.QueuedMessage(nil), rc.r.got...)
		rc.r.mu.Unlock()
		for _, m := range got {
			seen[string(m.Payload)]++
			_ = rc.c.Ack(context.Background(), m.ID)
		}
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("message %d delivered %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

// A message the node could not hand to anyone is offered again after
// Ready, and is the same message.
func testRefused(t *testing.T, newNode NewNode) {
	s, q := newNode(t), queueName(t)
	r := newRecorder()
	var mu sync.Mutex
	refused := 0
	r.accept = func(stomp.QueuedMessage) bool {
		mu.Lock()
		defer mu.Unlock()
		refused++
		return refused > 1
	}
	c := consume(t, s, q, r)
	put(t, s, q, "x")
	deadline := time.Now().Add(wait)
	for {
		mu.Lock()
		n := refused
		mu.Unlock()
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never offered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Ready()
	if got := r.waitN(t, 1); string(got[0].Payload) != "x" {
		t.Fatalf("%q", got[0].Payload)
	}
}

// A released message is delivered again.
func testRelease(t *testing.T, newNode NewNode) {
	s, q := newNode(t), queueName(t)
	r := newRecorder()
	c := consume(t, s, q, r)
	put(t, s, q, "again")
	m := r.waitN(t, 1)[0]
	if err := c.Release(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	c.Ready()
	if got := r.waitN(t, 2); string(got[1].Payload) != "again" {
		t.Fatalf("%q", got[1].Payload)
	}
}

// Messages a closing node held without delivering go to another node.
func testCloseGivesBack(t *testing.T, newNode NewNode) {
	a, b, q := newNode(t), newNode(t), queueName(t)
	never := newRecorder()
	never.accept = func(stomp.QueuedMessage) bool { return false }
	ca := consume(t, a, q, never)
	put(t, a, q, "held")
	time.Sleep(300 * time.Millisecond) // a reads it and cannot hand it out
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	rb := newRecorder()
	consume(t, b, q, rb)
	if got := rb.waitN(t, 1); string(got[0].Payload) != "held" {
		t.Fatalf("%q", got[0].Payload)
	}
}
