package sockjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/sockjs"
)

// A chat whose rooms keep their last 500 messages for 10 minutes: each
// message reaches the client with its position, and a client that comes
// back sends its last position to get what it missed.
func ExampleHandler_SubscribeWith() {
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{
		History: sockjs.HistoryOptions{
			Rules: []history.Rule{{Pattern: "room/*", Bounds: history.Bounds{Size: 500, TTL: 10 * time.Minute}}},
			// Clients get {"pos":"12@3f9a…","text":"…"}.
			Encode: func(_ string, pos sockjs.Position, msg string) string {
				b, _ := json.Marshal(map[string]string{"pos": pos.String(), "text": msg})
				return string(b)
			},
		},
	}, func(ctx context.Context, s *sockjs.Session) {
		var hello struct{ Room, Since string } // the client's first message
		if s.RecvJSON(ctx, &hello) != nil {
			return
		}
		var opts sockjs.SubscribeOptions
		if p, err := sockjs.ParsePosition(hello.Since); err == nil {
			opts.Since = &p
		}
		sub, err := h.SubscribeWith(ctx, s, "room/"+hello.Room, opts)
		if err != nil {
			return
		}
		if opts.Since != nil && !sub.Recovered {
			_ = s.SendJSON(map[string]string{"reload": sub.Position.String()}) // send the room's state afresh
		}
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			_ = h.Publish(ctx, "room/"+hello.Room, msg)
		}
	})
	_ = h
}

// Publishing to a topic with history gives the message's position.
func ExampleHandler_PublishWithPosition() {
	h := sockjs.NewHandler(sockjs.Options{
		History: sockjs.HistoryOptions{Rules: []history.Rule{{Pattern: "news"}}},
	}, func(context.Context, *sockjs.Session) {})
	defer h.Shutdown(context.Background())
	p1, _ := h.PublishWithPosition(context.Background(), "news", "first")
	p2, _ := h.PublishWithPosition(context.Background(), "news", "second")
	fmt.Println(p1.Offset, p2.Offset, p1.Epoch == p2.Epoch)
	// Output: 1 2 true
}

// Members of a room, and their joins and leaves, on every node.
func ExampleHandler_Join() {
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		name, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if _, err := h.Join(ctx, s, "lobby", name); err != nil { // leaves when the session closes
			return
		}
		ms, _ := h.Members(ctx, "lobby")
		_ = s.SendJSON(ms)
		for {
			if _, err := s.Recv(ctx); err != nil {
				return
			}
		}
	})
	stop, _ := h.WatchPresence(context.Background(), "lobby", func(ev presence.Event) {
		fmt.Println(ev.Member.Info, "joined:", ev.Joined)
	})
	defer stop()
}
