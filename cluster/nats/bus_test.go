package nats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/pubsub"
)

// recorder collects payloads per handler, in arrival order.
type recorder struct {
	mu  sync.Mutex
	got []string
	c   chan struct{}
}

func newRecorder() *recorder { return &recorder{c: make(chan struct{}, 1)} }

func (r *recorder) handle(_ string, p []byte) {
	r.mu.Lock()
	r.got = append(r.got, string(p))
	r.mu.Unlock()
	select {
	case r.c <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// waitFor waits until the recorder has n payloads or fails after d.
func (r *recorder) waitFor(t *testing.T, n int, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		if got := r.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-r.c:
		case <-deadline:
			t.Fatalf("got %d payloads within %v, want %d", len(r.snapshot()), d, n)
		}
	}
}

func newBus(t *testing.T, srv *natstest.Server) *Bus {
	t.Helper()
	return newBusWith(t, srv, BusOptions{})
}

func newBusWith(t *testing.T, srv *natstest.Server, o BusOptions) *Bus {
	t.Helper()
	nc, err := Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBus(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		nc.Close()
	})
	return b
}

func TestBusFansOutToEveryNodeInPublishOrder(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	nodes := make([]*Bus, 3)
	recs := make([]*recorder, 6)
	for i := range nodes {
		nodes[i] = newBus(t, srv)
	}
	for i := range recs { // two local subscribers on each node
		recs[i] = newRecorder()
		if _, err := nodes[i%3].Subscribe(ctx, "news", recs[i].handle); err != nil {
			t.Fatal(err)
		}
	}
	other := newRecorder()
	if _, err := nodes[0].Subscribe(ctx, "sport", other.handle); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		if err := nodes[i%3].Publish(ctx, "news", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	// One publisher at a time here, and Publish returns once the server has
	// the payload: every subscriber sees 0..n-1 in order.
	for i, r := range recs {
		got := r.waitFor(t, n, 20*time.Second)
		for j, p := range got {
			if p != strconv.Itoa(j) {
				t.Fatalf("subscriber %d: payload %d is %q, want %d", i, j, p, j)
			}
		}
	}
	if got := other.snapshot(); len(got) != 0 {
		t.Fatalf("a subscriber of another topic got %v", got)
	}
}

// Topic names are any strings; names that NATS would read as several
// tokens or wildcards reach their own subscribers only.
func TestBusTopicsOfAnyNameStayApart(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	sub, pub := newBus(t, srv), newBus(t, srv)
	topics := []string{"", "a", "a.b", "a=2Eb", "a b", "*", ">", "a.*", "a.>", "a/b", "☃", "\x00", "=", "=3D"}
	recs := make([]*recorder, len(topics))
	for i, tp := range topics {
		recs[i] = newRecorder()
		if _, err := sub.Subscribe(ctx, tp, recs[i].handle); err != nil {
			t.Fatalf("subscribe %q: %v", tp, err)
		}
	}
	for _, tp := range topics {
		if n, err := pub.PublishCount(ctx, tp, []byte(tp)); err != nil || n != 1 {
			t.Fatalf("publish on %q: %d receivers, %v", tp, n, err)
		}
	}
	for i, tp := range topics {
		if got := recs[i].waitFor(t, 1, 10*time.Second); got[0] != tp {
			t.Fatalf("subscriber of %q got %q", tp, got)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i, tp := range topics {
		if got := recs[i].snapshot(); len(got) != 1 {
			t.Fatalf("subscriber of %q got %q, want only its own", tp, got)
		}
	}
}

// PublishCount tells a topic nobody subscribes to (0) from one somebody
// does (1), at once, every time.
func TestBusPublishCountSaysWhetherAnyoneListens(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	a, b := newBus(t, srv), newBus(t, srv)
	for i := range 200 {
		if n, err := a.PublishCount(ctx, "empty", []byte("x")); err != nil || n != 0 {
			t.Fatalf("publish %d on a topic nobody subscribes to: %d receivers, %v; want 0", i, n, err)
		}
	}
	r := newRecorder()
	cancel, err := b.Subscribe(ctx, "t", r.handle)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent publishers, on topics with and without subscribers.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				topic, want := "t", 1
				if (g+i)%2 == 0 {
					topic, want = "empty", 0
				}
				if n, err := a.PublishCount(ctx, topic, []byte("x")); err != nil || n != want {
					t.Errorf("publish on %q: %d receivers, %v; want %d", topic, n, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	r.waitFor(t, 400, 10*time.Second)
	cancel()
	// The server forgets the node's subscription with its last handler.
	waitUntil(t, 5*time.Second, func() bool {
		n, err := a.PublishCount(ctx, "t", []byte("x"))
		return err == nil && n == 0
	}, "a topic whose last handler left still counts a receiver")
}

func TestBusCancelStopsDeliveryAndResubscribeWorks(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	a, b := newBus(t, srv), newBus(t, srv)
	r1, r2 := newRecorder(), newRecorder()
	cancel1, err := a.Subscribe(ctx, "t", r1.handle)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "t", []byte("one")); err != nil {
		t.Fatal(err)
	}
	r1.waitFor(t, 1, 10*time.Second)
	cancel1()
	cancel1() // idempotent
	// Cancel and subscribe again at once: the topic must stay subscribed.
	cancel2, err := a.Subscribe(ctx, "t", r2.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel2()
	if err := b.Publish(ctx, "t", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got := r2.waitFor(t, 1, 10*time.Second); got[0] != "two" {
		t.Fatalf("resubscribed handler got %v", got)
	}
	if got := r1.snapshot(); len(got) != 1 {
		t.Fatalf("cancelled handler got %v after cancel", got)
	}
}

func TestBusRecoversWhenNATSRestarts(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	sub, pub := newBus(t, srv), newBus(t, srv)
	r := newRecorder()
	if _, err := sub.Subscribe(ctx, "t", r.handle); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// Once the publisher knows the connection is down, Publish refuses and
	// sends nothing. (A Publish racing the server's death fails on the
	// missing confirmation, and its payload is "not known to be sent", as
	// Publish says: nats.go may send what it had buffered once it has
	// reconnected.)
	for deadline := time.Now().Add(10 * time.Second); pub.nc.IsConnected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the publisher never noticed NATS was down")
		}
	}
	down, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := pub.Publish(down, "t", []byte("lost"))
	cancel()
	if err == nil {
		t.Fatal("Publish with NATS down succeeded")
	}
	srv.RestartEmpty(t) // a new process: the subscription must be made again
	// Payloads published before the node has resubscribed are lost (at most
	// once); keep publishing until one arrives.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; len(r.snapshot()) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the subscriber did not recover within 30s of NATS coming back")
		}
		_ = pub.Publish(ctx, "t", []byte(fmt.Sprint("after-", i)))
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range r.snapshot() {
		if p == "lost" {
			t.Fatal("a payload whose Publish failed was delivered")
		}
	}
	if n, err := pub.PublishCount(ctx, "t", []byte("counted")); err != nil || n != 1 {
		t.Fatalf("PublishCount after the restart: %d, %v; want 1", n, err)
	}
}

// A node whose handlers fall behind loses payloads (the client drops past
// its buffer) and goes on receiving afterwards.
func TestBusRecoversAfterASlowSubscriber(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	sub := newBusWith(t, srv, BusOptions{Buffer: 4})
	pub := newBus(t, srv)
	release := make(chan struct{})
	var once sync.Once
	r := newRecorder()
	if _, err := sub.Subscribe(ctx, "t", func(topic string, p []byte) {
		once.Do(func() { <-release })
		r.handle(topic, p)
	}); err != nil {
		t.Fatal(err)
	}
	const sent = 200
	for i := range sent {
		if err := pub.Publish(ctx, "t", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got := r.snapshot(); len(got) > 0 && got[len(got)-1] == "recovered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery after the slow subscriber (%d payloads seen)", len(r.snapshot()))
		}
		_ = pub.Publish(ctx, "t", []byte("recovered"))
		time.Sleep(100 * time.Millisecond)
	}
	got := 0
	for _, p := range r.snapshot() {
		if p != "recovered" {
			got++
		}
	}
	t.Logf("%d of %d payloads reached the stalled subscriber", got, sent)
	if got >= sent {
		t.Fatalf("%d payloads reached a stalled subscriber with a buffer of 4: nothing was dropped, the test did not exercise the limit", got)
	}
}

func TestBusClosedRefusesAndLeavesNoGoroutine(t *testing.T) {
	srv := natstest.Start(t) // the in-process server's goroutines are its own
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nc, err := Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, err := NewBus(nc, BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.Subscribe(ctx, "t", func(string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "t", nil); err != pubsub.ErrClosed {
		t.Fatalf("Publish after Close: %v, want pubsub.ErrClosed", err)
	}
	if _, err := b.PublishCount(ctx, "t", nil); err != pubsub.ErrClosed {
		t.Fatalf("PublishCount after Close: %v, want pubsub.ErrClosed", err)
	}
	if _, err := b.Subscribe(ctx, "t", func(string, []byte) {}); err != pubsub.ErrClosed {
		t.Fatalf("Subscribe after Close: %v, want pubsub.ErrClosed", err)
	}
}

func TestBusSubscribeFailsClearlyWhileNATSIsDown(t *testing.T) {
	srv := natstest.Start(t)
	b := newBus(t, srv)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := b.Subscribe(ctx, "t", func(string, []byte) {}); err == nil {
		t.Fatal("Subscribe with NATS down succeeded")
	}
	srv.Start(t)
	waitUntil(t, 10*time.Second, b.nc.IsConnected, "no reconnection")
	if _, err := b.Subscribe(context.Background(), "t", func(string, []byte) {}); err != nil {
		t.Fatalf("Subscribe after NATS came back: %v", err)
	}
}

func TestNewBusValidates(t *testing.T) {
	nc := connect(t, natstest.Start(t))
	for _, p := range []string{"a b", "a.*", "a.>", ".a", "a.", "a..b"} {
		if _, err := NewBus(nc, BusOptions{Prefix: p}); err == nil {
			t.Errorf("NewBus accepted the prefix %q", p)
		}
	}
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Payloads larger than the server's max_payload go in parts and arrive
// whole, in order with the publisher's other payloads, also when several
// goroutines publish large payloads at once.
func TestBusCarriesPayloadsLargerThanMaxPayload(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	sub, pub := newBus(t, srv), newBus(t, srv)
	r := newRecorder()
	if _, err := sub.Subscribe(ctx, "t", r.handle); err != nil {
		t.Fatal(err)
	}
	max := int(pub.nc.MaxPayload())
	big := func(tag string, n int) string { return tag + strings.Repeat("x", n) }
	want := []string{"small", big("a", max), "small2", big("b", 3*max+7), big("c", max-fragmentHeadroom-1)}
	for _, p := range want {
		if n, err := pub.PublishCount(ctx, "t", []byte(p)); err != nil || n != 1 {
			t.Fatalf("publish %d bytes: %d receivers, %v", len(p), n, err)
		}
	}
	got := r.waitFor(t, len(want), 20*time.Second)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("payload %d: %d bytes %.10q, want %d bytes %.10q", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
	if n, err := pub.PublishCount(ctx, "nobody", []byte(big("d", 2*max))); err != nil || n != 0 {
		t.Fatalf("a large payload nobody subscribes to: %d receivers, %v; want 0", n, err)
	}
	// Concurrent large payloads: their parts interleave on the wire.
	r2 := newRecorder()
	if _, err := sub.Subscribe(ctx, "u", r2.handle); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pub.Publish(ctx, "u", []byte(big(strconv.Itoa(g), 2*max))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, p := range r2.waitFor(t, 4, 20*time.Second) {
		if len(p) != 2*max+1 || strings.Trim(p[1:], "x") != "" {
			t.Fatalf("a concurrent large payload arrived as %d bytes %.10q", len(p), p)
		}
	}
}

// A payload whose part is missing, or whose parts disagree, is dropped,
// not delivered short; and what waits for its parts is bounded.
func TestBusAssembleDropsBrokenPayloads(t *testing.T) {
	b := &Bus{partials: make(map[string]*partial)}
	part := func(id string, i, n int, data string) *natsgo.Msg {
		m := &natsgo.Msg{Data: []byte(data), Header: natsgo.Header{}}
		m.Header.Set(hdrMsg, id)
		m.Header.Set(hdrPart, fmt.Sprint(i, "/", n))
		return m
	}
	for _, tc := range []struct {
		name  string
		parts []*natsgo.Msg
		want  string // "" when dropped
	}{
		{"whole", []*natsgo.Msg{part("m", 0, 3, "a"), part("m", 1, 3, "b"), part("m", 2, 3, "c")}, "abc"},
		{"middle part lost", []*natsgo.Msg{part("m", 0, 3, "a"), part("m", 2, 3, "c")}, ""},
		{"first part lost", []*natsgo.Msg{part("m", 1, 2, "b")}, ""},
		{"counts disagree", []*natsgo.Msg{part("m", 0, 2, "a"), part("m", 1, 3, "b")}, ""},
		{"bad index", []*natsgo.Msg{part("m", 0, 2, "a"), part("m", 5, 2, "b")}, ""},
		{"too many parts", []*natsgo.Msg{part("m", 0, maxParts+1, "a")}, ""},
		{"interleaved", []*natsgo.Msg{part("m", 0, 2, "a"), part("n", 0, 2, "c"), part("m", 1, 2, "b")}, "ab"},
		{"not a part", []*natsgo.Msg{{Data: []byte("plain")}}, "plain"},
	} {
		clear(b.partials)
		var got []byte
		for _, m := range tc.parts {
			if p := b.assemble("s", m); p != nil {
				got = p
			}
		}
		if string(got) != tc.want {
			t.Errorf("%s: assembled %q, want %q", tc.name, got, tc.want)
		}
	}
	clear(b.partials)
	for i := range 3 * maxPartials {
		b.assemble("s", part(fmt.Sprint("m", i), 0, 2, "a"))
	}
	if len(b.partials) > maxPartials {
		t.Fatalf("%d incomplete payloads held, want at most %d", len(b.partials), maxPartials)
	}
}
