package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector records deliveries and signals when n have arrived.
type collector struct {
	mu   sync.Mutex
	got  []string
	n    int
	done chan struct{}
}

func newCollector(n int) *collector { return &collector{n: n, done: make(chan struct{})} }

func (c *collector) handle(topic string, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, topic+"="+string(p))
	if len(c.got) == c.n {
		close(c.done)
	}
}

func (c *collector) wait(t *testing.T) []string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out; got %v", c.snapshot())
	}
	return c.snapshot()
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func newBus(t *testing.T, max int) *Memory {
	m := NewMemory(max)
	t.Cleanup(func() { m.Close(); <-m.Done() })
	return m
}

func TestFanOutInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newBus(t, 0)
	const n = 500
	var cs []*collector
	for range 3 {
		c := newCollector(n)
		if _, err := m.Subscribe(ctx, "a", c.handle); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	other := newCollector(1)
	m.Subscribe(ctx, "b", other.handle)
	for i := range n {
		if err := m.Publish(ctx, "a", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	m.Publish(ctx, "b", []byte("x"))
	for _, c := range cs {
		got := c.wait(t)
		for i, g := range got {
			if g != fmt.Sprintf("a=%d", i) {
				t.Fatalf("delivery %d is %q", i, g)
			}
		}
	}
	if got := other.wait(t); len(got) != 1 || got[0] != "b=x" {
		t.Fatalf("topic b got %v", got)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newBus(t, 0)
	gone := newCollector(1)
	cancel, _ := m.Subscribe(ctx, "t", gone.handle)
	stays := newCollector(2)
	m.Subscribe(ctx, "t", stays.handle)
	m.Publish(ctx, "t", []byte("1"))
	gone.wait(t)
	cancel()
	cancel() // idempotent
	m.Publish(ctx, "t", []byte("2"))
	stays.wait(t)
	if got := gone.snapshot(); len(got) != 1 {
		t.Fatalf("cancelled subscriber got %v", got)
	}
}

// A handler may publish and subscribe without deadlocking the bus.
func TestHandlerMayPublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newBus(t, 0)
	c := newCollector(1)
	m.Subscribe(ctx, "out", c.handle)
	m.Subscribe(ctx, "in", func(_ string, p []byte) {
		m.Subscribe(ctx, "other", func(string, []byte) {})
		if err := m.Publish(ctx, "out", p); err != nil {
			t.Error(err)
		}
	})
	m.Publish(ctx, "in", []byte("hop"))
	if got := c.wait(t); got[0] != "out=hop" {
		t.Fatal(got)
	}
}

func TestOverflowAndClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMemory(10)
	release := make(chan struct{})
	m.Subscribe(ctx, "t", func(string, []byte) { <-release })
	tests := []struct {
		payload string
		want    error
	}{
		{"first", nil}, // taken by the delivery goroutine, which then blocks, or queued
		{"12345", nil},
		{"123456", ErrOverflow},
	}
	// Wait until the first payload has left the queue, so the bound is exact.
	if err := m.Publish(ctx, "t", []byte("x")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.mu.Lock()
		empty := len(m.queue) == 0
		m.mu.Unlock()
		if empty || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for _, tt := range tests[1:] {
		if err := m.Publish(ctx, "t", []byte(tt.payload)); !errors.Is(err, tt.want) {
			t.Fatalf("publish %q: %v, want %v", tt.payload, err, tt.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Publish(cctx, "t", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	m.Close()
	close(release)
	<-m.Done()
	if err := m.Publish(ctx, "t", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := m.Subscribe(ctx, "t", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// Publishing where nobody listens costs nothing and is not an error.
func TestPublishWithoutSubscribers(t *testing.T) {
	t.Parallel()
	m := newBus(t, 1)
	if err := m.Publish(context.Background(), "none", make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
}
