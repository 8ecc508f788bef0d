package sockjs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/sockjs"
)

// historyApp serves "sub <topic> <position or ->": it subscribes the
// session from that position and answers "subscribed <recovered>
// <replayed> <position>". Messages of topics with history arrive as
// "<position> <message>" (historyEncode).
func historyApp(h func() *sockjs.Handler) sockjs.HandlerFunc {
	return func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			f := strings.Fields(msg)
			if len(f) != 3 || f[0] != "sub" {
				_ = s.Send("unknown " + msg)
				continue
			}
			var opts sockjs.SubscribeOptions
			if f[2] != "-" {
				p, err := sockjs.ParsePosition(f[2])
				if err != nil {
					_ = s.Send("error " + err.Error())
					continue
				}
				opts.Since = &p
			}
			sub, err := h().SubscribeWith(ctx, s, f[1], opts)
			if err != nil {
				_ = s.Send("error " + err.Error())
				continue
			}
			pos := "-"
			if sub.Position.Epoch != "" {
				pos = sub.Position.String()
			}
			_ = s.Send(fmt.Sprintf("subscribed %v %d %s", sub.Recovered, sub.Replayed, pos))
		}
	}
}

func historyEncode(_ string, pos sockjs.Position, msg string) string { return pos.String() + " " + msg }

// historyServer serves historyApp at /h with every transport on; topic
// "news" keeps history.
func historyServer(t *testing.T, store history.Store) (*sockjs.Handler, string) {
	t.Helper()
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{
		RawWebSocket:  true,
		AllowJSONP:    true,
		ResponseLimit: 4 << 10, // streams end and reconnect now and then
		History: sockjs.HistoryOptions{
			Rules:  []history.Rule{{Pattern: "news", Bounds: history.Bounds{Size: 1000}}},
			Store:  store,
			Encode: historyEncode,
		},
	}, historyApp(func() *sockjs.Handler { return h }))
	r := chi.NewRouter()
	r.Mount("/h", h)
	return h, startServer(t, r, h).URL + "/h"
}

// readSubscribed reads events up to the "subscribed" answer, which it
// returns split; the replay comes before it, and is returned too.
func readSubscribed(t *testing.T, p peer) (recovered string, pos sockjs.Position) {
	t.Helper()
	recovered, pos, before := readSubscribedAfter(t, p)
	if len(before) > 0 {
		t.Fatalf("got %q before the subscription's answer", before[0])
	}
	return recovered, pos
}

func readSubscribedAfter(t *testing.T, p peer) (recovered string, pos sockjs.Position, before []string) {
	t.Helper()
	for {
		ev, err := p.Next(scenarioWait)
		if err != nil || ev.Closed {
			t.Fatalf("waiting for subscribed: %v %+v", err, ev)
		}
		if f := strings.Fields(ev.Msg); len(f) == 4 && f[0] == "subscribed" {
			if f[3] == "-" {
				return f[1], sockjs.Position{}, before
			}
			pos, err := sockjs.ParsePosition(f[3])
			if err != nil {
				t.Fatalf("subscribed with a bad position %q", ev.Msg)
			}
			return f[1], pos, before
		}
		if strings.HasPrefix(ev.Msg, "error") {
			t.Fatal(ev.Msg)
		}
		before = append(before, ev.Msg) // the replay is queued before the answer
	}
}

// nextPositioned reads one "<position> m<k>" message.
func nextPositioned(t *testing.T, p peer) (sockjs.Position, string) {
	t.Helper()
	ev, err := p.Next(scenarioWait)
	if err != nil || ev.Closed {
		t.Fatalf("waiting for a message: %v %+v", err, ev)
	}
	return splitPositioned(t, ev.Msg)
}

func splitPositioned(t *testing.T, m string) (sockjs.Position, string) {
	t.Helper()
	ps, msg, ok := strings.Cut(m, " ")
	pos, err := sockjs.ParsePosition(ps)
	if !ok || err != nil {
		t.Fatalf("message %q has no position", m)
	}
	return pos, msg
}

// The client reads some messages, goes away, and comes back with a new
// session from its last position while a publisher keeps publishing: it
// gets every message once, in order, over every transport.
func TestHistoryRecoveryAcrossReconnect(t *testing.T) {
	t.Parallel()
	for _, tr := range peerTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			h, base := historyServer(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 4*scenarioWait)
			defer cancel()
			recoverAcrossReconnect(t, ctx, base, base, tr, func(msg string) error {
				return h.Publish(ctx, "news", msg)
			})
		})
	}
}

// recoverAcrossReconnect runs the scenario: the first session is dialled at
// base1, the second at base2; publish publishes on topic "news".
func recoverAcrossReconnect(t *testing.T, ctx context.Context, base1, base2 string, tr peerTransport, publish func(string) error) {
	t.Helper()
	const total, seen = 300, 20
	a, err := tr.dial(ctx, base1)
	if err != nil {
		t.Fatal(err)
	}
	peerSend(t, a, "sub news -")
	if rec, pos := readSubscribed(t, a); rec != "false" || pos.Offset != 0 {
		t.Fatalf("fresh subscription: recovered %s at %v", rec, pos)
	}
	for i := 1; i <= 50; i++ {
		if err := publish(fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var last sockjs.Position
	for i := 1; i <= seen; i++ {
		pos, msg := nextPositioned(t, a)
		if msg != fmt.Sprintf("m%d", i) || pos.Offset != uint64(i) {
			t.Fatalf("first session, message %d = %v %q", i, pos, msg)
		}
		last = pos
	}
	a.Close() // gone, with messages 21-50 unread

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the publisher goes on during the gap and the recovery
		defer wg.Done()
		for i := 51; i <= total; i++ {
			if err := publish(fmt.Sprintf("m%d", i)); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer wg.Wait()
	time.Sleep(5 * time.Millisecond) // some messages come during the gap
	b, err := tr.dial(ctx, base2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	peerSend(t, b, "sub news "+last.String())
	rec, _, replay := readSubscribedAfter(t, b)
	if rec != "true" {
		t.Fatalf("not recovered from %v", last)
	}
	for i := seen + 1; i <= total; i++ {
		var pos sockjs.Position
		var msg string
		if len(replay) > 0 {
			pos, msg = splitPositioned(t, replay[0])
			replay = replay[1:]
		} else {
			pos, msg = nextPositioned(t, b)
		}
		if msg != fmt.Sprintf("m%d", i) || pos.Offset != uint64(i) || pos.Epoch != last.Epoch {
			t.Fatalf("second session: got %v %q, want offset %d m%d: a gap or a duplicate", pos, msg, i, i)
		}
	}
}

// A process that lost its history (a restart: a new handler, a new
// in-memory store) does not recover a client from its old position: it
// says so, replays nothing, and the positions are of a new epoch.
func TestHistoryLostIsNotRecovered(t *testing.T) {
	t.Parallel()
	tr := peerTransports[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*scenarioWait)
	defer cancel()
	h1, base1 := historyServer(t, nil)
	for i := range 5 {
		if err := h1.Publish(ctx, "news", fmt.Sprintf("old%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	old, err := h1.PublishWithPosition(ctx, "news", "old5")
	if err != nil || old.Offset != 6 {
		t.Fatalf("PublishWithPosition = %v, %v", old, err)
	}
	_ = base1
	h2, base2 := historyServer(t, nil)
	for i := range 7 {
		if err := h2.Publish(ctx, "news", fmt.Sprintf("new%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := tr.dial(ctx, base2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	peerSend(t, p, "sub news "+history.Position{Offset: 3, Epoch: old.Epoch}.String())
	rec, pos := readSubscribed(t, p)
	if rec != "false" || pos.Epoch == old.Epoch || pos.Offset != 7 {
		t.Fatalf("recovered %s at %v from a lost history (old epoch %s)", rec, pos, old.Epoch)
	}
	if err := h2.Publish(ctx, "news", "live"); err != nil {
		t.Fatal(err)
	}
	if pos, msg := nextPositioned(t, p); msg != "live" || pos.Offset != 8 {
		t.Fatalf("after a failed recovery got %v %q, want the next live message", pos, msg)
	}
}

// Topics without history are untouched: SubscribeWith is Subscribe, and
// PublishWithPosition refuses them.
func TestHistoryOtherTopics(t *testing.T) {
	t.Parallel()
	h, base := historyServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
	defer cancel()
	if _, err := h.PublishWithPosition(ctx, "plain", "x"); err != sockjs.ErrNoHistory {
		t.Fatalf("PublishWithPosition on a plain topic: %v", err)
	}
	p, err := peerTransports[0].dial(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	peerSend(t, p, "sub plain 1@x")
	if rec, _ := readSubscribed(t, p); rec != "false" {
		t.Fatal("recovered on a topic without history")
	}
	if err := h.Publish(ctx, "plain", "hello"); err != nil {
		t.Fatal(err)
	}
	expectPeerMessages(t, p, "hello")
}

// A session that subscribes from a position older than the history kept
// is told it is not recovered, and gets nothing of the replay.
func TestHistoryTooOldIsNotRecovered(t *testing.T) {
	t.Parallel()
	h, base := historyServer(t, history.NewMemory(nil))
	ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
	defer cancel()
	var first sockjs.Position
	for i := range 1500 { // the rule keeps 1000
		p, err := h.PublishWithPosition(ctx, "news", fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = p
		}
	}
	p, err := peerTransports[0].dial(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	peerSend(t, p, "sub news "+first.String())
	if rec, pos := readSubscribed(t, p); rec != "false" || pos.Offset != 1500 {
		t.Fatalf("from a trimmed position: recovered %s at %v", rec, pos)
	}
}
