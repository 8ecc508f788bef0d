package nats_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/history/historytest"
)

// histConn connects to srv for the test.
func histConn(t testing.TB, srv *natstest.Server) *natsgo.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// histUp waits until every connection is up again after a restart.
func histUp(t testing.TB, ncs ...*natsgo.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, nc := range ncs {
		for !nc.IsConnected() {
			if time.Now().After(deadline) {
				t.Fatalf("NATS connection still %s", nc.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func newHistory(t testing.TB, nc *natsgo.Conn, o nats.HistoryOptions) *nats.History {
	t.Helper()
	h, err := nats.NewHistory(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHistoryStore(t *testing.T) {
	srv := natstest.Start(t)
	nc := histConn(t, srv)
	n := 0
	historytest.Run(t, func(t *testing.T) history.Store {
		n++ // each subtest its own streams and subjects
		return newHistory(t, nc, nats.HistoryOptions{Prefix: fmt.Sprintf("s%d", n), Stream: fmt.Sprintf("s%d", n)})
	})
}

func TestNewHistoryValidates(t *testing.T) {
	srv := natstest.Start(t)
	nc := histConn(t, srv)
	for _, tc := range []struct {
		name string
		nc   *natsgo.Conn
		opts nats.HistoryOptions
	}{
		{"no connection", nil, nats.HistoryOptions{}},
		{"prefix with a wildcard", nc, nats.HistoryOptions{Prefix: "a.*"}},
		{"prefix with an empty token", nc, nats.HistoryOptions{Prefix: "a..b"}},
		{"stream with a dot", nc, nats.HistoryOptions{Stream: "a.b"}},
		{"stream with a slash", nc, nats.HistoryOptions{Stream: "a/b"}},
		{"stream too long", nc, nats.HistoryOptions{Stream: strings.Repeat("s", 101)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := nats.NewHistory(tc.nc, tc.opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// A message appended is on the Bus's subject for the topic, framed with its
// position, in offset order, even with two nodes publishing at once; topics
// of any name (slashes, dots, spaces, very long) keep their own history.
func TestHistoryPublishesOnTheBus(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subNC := histConn(t, srv)
	bus, err := nats.NewBus(subNC, nats.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	var hs []*nats.History
	for range 2 { // two nodes, each its own connection
		h, err := bus.History(nats.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h, newHistory(t, histConn(t, srv), nats.HistoryOptions{}))
	}
	for _, topic := range []string{"room", "a/b.c d", strings.Repeat("long/", 100)} {
		t.Run(topic[:min(len(topic), 10)], func(t *testing.T) {
			got := make(chan history.Entry, 1000)
			unsub, err := bus.Subscribe(ctx, topic, func(_ string, p []byte) {
				e, err := history.ParseFrame(p)
				if err != nil {
					t.Error(err)
					return
				}
				got <- history.Entry{Position: e.Position, Payload: append([]byte(nil), e.Payload...)}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unsub()
			const each = 100
			var wg sync.WaitGroup
			for i, h := range hs {
				wg.Go(func() {
					for j := range each {
						if _, err := h.Publish(ctx, topic, fmt.Appendf(nil, "%d-%d", i, j), history.Bounds{}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var epoch string
			next := make([]int, len(hs)) // each publisher's messages come in its order
			for i := range each * len(hs) {
				select {
				case e := <-got:
					if i == 0 {
						epoch = e.Epoch
					}
					var p, j int
					if _, err := fmt.Sscanf(string(e.Payload), "%d-%d", &p, &j); err != nil || e.Offset != uint64(i+1) || e.Epoch != epoch || next[p] != j {
						t.Fatalf("bus message %d = %v %q, want offset %d in %q, message %d of publisher %d", i, e.Position, e.Payload, i+1, epoch, next[p], p)
					}
					next[p]++
				case <-ctx.Done():
					t.Fatalf("bus message %d never came", i)
				}
			}
			es, top, err := hs[0].Since(ctx, topic, history.Position{Epoch: epoch}, 1000)
			if err != nil || !history.Recoverable(history.Position{Epoch: epoch}, es, top) || len(es) != each*len(hs) {
				t.Fatalf("the whole history: %d entries to %v, %v", len(es), top, err)
			}
		})
	}
}

// NATS restarted empty: the next position has a new epoch, and a client at
// an old position is not recovered (nothing replayed), never replayed the
// new history as if it were the old; a node that still held the old epoch
// learns the new one.
func TestHistoryLostGivesNewEpoch(t *testing.T) {
	srv := natstest.Start(t)
	ncA, ncB := histConn(t, srv), histConn(t, srv)
	a := newHistory(t, ncA, nats.HistoryOptions{})
	b := newHistory(t, ncB, nats.HistoryOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last history.Position
	var err error
	for i := range 6 {
		h := a
		if i%2 == 1 {
			h = b
		}
		if last, err = h.Publish(ctx, "room", []byte("old"), history.Bounds{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.RestartEmpty(t)
	histUp(t, ncA, ncB)
	p, err := a.Publish(ctx, "room", []byte("new"), history.Bounds{})
	if err != nil {
		t.Fatal(err)
	}
	for range 8 { // b still holds the old epoch and offset 6
		if p, err = b.Publish(ctx, "room", []byte("new"), history.Bounds{}); err != nil {
			t.Fatal(err)
		}
	}
	if p.Epoch == last.Epoch || p.Offset != 9 {
		t.Fatalf("after the loss: position %v (old epoch %q)", p, last.Epoch)
	}
	for _, h := range []*nats.History{a, b} {
		for _, from := range []history.Position{last, {Offset: 2, Epoch: last.Epoch}} {
			es, top, err := h.Since(ctx, "room", from, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 0 || history.Recoverable(from, es, top) || top != p {
				t.Fatalf("from %v: %d entries of another history, top %v", from, len(es), top)
			}
		}
	}
}

// NATS restarted with its data: positions go on in the same epoch, and
// what came before the restart is recovered.
func TestHistoryKeptAcrossARestartWithData(t *testing.T) {
	srv := natstest.Start(t)
	nc := histConn(t, srv)
	h := newHistory(t, nc, nats.HistoryOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, err := h.Publish(ctx, "room", []byte("m1"), history.Bounds{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	histUp(t, nc)
	p, err := h.Publish(ctx, "room", []byte("m2"), history.Bounds{})
	if err != nil || p != (history.Position{Offset: 2, Epoch: first.Epoch}) {
		t.Fatalf("after a restart with data: %v, %v (first %v)", p, err, first)
	}
	from := history.Position{Epoch: first.Epoch}
	es, top, err := h.Since(ctx, "room", from, 10)
	if err != nil || !history.Recoverable(from, es, top) || string(es[0].Payload) != "m1" || string(es[1].Payload) != "m2" {
		t.Fatalf("replay after a restart with data: %v to %v, %v", es, top, err)
	}
}

// A topic whose messages all aged out keeps its position: a client at top
// is recovered with nothing, one further back is not.
func TestHistoryPositionOutlivesTheMessages(t *testing.T) {
	srv := natstest.Start(t)
	h := newHistory(t, histConn(t, srv), nats.HistoryOptions{})
	ctx := context.Background()
	b := history.Bounds{TTL: 100 * time.Millisecond}
	var ps []history.Position
	for range 3 {
		p, err := h.Publish(ctx, "room", []byte("x"), b)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	deadline := time.Now().Add(10 * time.Second)
	for { // the server expires them on its timer
		es, top, err := h.Since(ctx, "room", ps[0], 10)
		if err != nil {
			t.Fatal(err)
		}
		if !history.Recoverable(ps[0], es, top) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the messages never aged out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	es, top, err := h.Since(ctx, "room", ps[2], 10)
	if err != nil || top != ps[2] || !history.Recoverable(ps[2], es, top) {
		t.Fatalf("at top after the messages aged out: %v, %v", top, err)
	}
	p, err := h.Publish(ctx, "room", []byte("y"), b)
	if err != nil || p != (history.Position{Offset: 4, Epoch: ps[0].Epoch}) {
		t.Fatalf("next position %v, %v", p, err)
	}
}

// Prune deletes the streams idle past their KeepPosition, and only those;
// their topic then starts a new epoch.
func TestHistoryPruneDeletesIdleStreams(t *testing.T) {
	srv := natstest.Start(t)
	nc := histConn(t, srv)
	h := newHistory(t, nc, nats.HistoryOptions{})
	ctx := context.Background()
	short := history.Bounds{TTL: 100 * time.Millisecond, KeepPosition: 200 * time.Millisecond}
	old, err := h.Publish(ctx, "idle", []byte("x"), short)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(ctx, "busy", []byte("x"), history.Bounds{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	n, err := h.Prune(ctx)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	js, _ := jetstream.New(nc)
	var names []string
	for name := range js.StreamNames(ctx).Name() {
		names = append(names, name)
	}
	if fmt.Sprint(names) != "["+nats.DefaultHistoryStream+"-busy]" {
		t.Fatalf("streams left: %v", names)
	}
	p, err := h.Publish(ctx, "idle", []byte("x"), short)
	if err != nil || p.Epoch == old.Epoch || p.Offset != 1 {
		t.Fatalf("after the prune: %v, %v (was %v)", p, err, old)
	}
}

// The bounds of a publish apply to its topic's stream: a topic whose rule
// changed keeps its epoch and offsets, and is trimmed to the new size.
func TestHistoryBoundsChange(t *testing.T) {
	srv := natstest.Start(t)
	h := newHistory(t, histConn(t, srv), nats.HistoryOptions{})
	ctx := context.Background()
	var ps []history.Position
	for i := range 20 {
		b := history.Bounds{Size: 100}
		if i >= 10 {
			b.Size = 5
		}
		p, err := h.Publish(ctx, "room", []byte("x"), b)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if ps[19] != (history.Position{Offset: 20, Epoch: ps[0].Epoch}) {
		t.Fatalf("after the change: %v (first %v)", ps[19], ps[0])
	}
	for _, tc := range []struct {
		from history.Position
		ok   bool
	}{{ps[9], false}, {ps[14], true}} {
		es, top, err := h.Since(ctx, "room", tc.from, 100)
		if err != nil || history.Recoverable(tc.from, es, top) != tc.ok {
			t.Fatalf("from %v: %d entries to %v, recoverable %v, want %v (%v)", tc.from, len(es), top, !tc.ok, tc.ok, err)
		}
	}
}
