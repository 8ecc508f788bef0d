package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/sockjs"
)

// member is one user in the room.
type member struct {
	User      string `json:"user"`
	Transport string `json:"transport"`
}

// event is what the server sends, as JSON.
type event struct {
	Type      string   `json:"type"` // "welcome", "join", "leave" or "message"
	User      string   `json:"user"`
	Transport string   `json:"transport"`
	Text      string   `json:"text,omitempty"`
	Users     []member `json:"users,omitempty"` // welcome: who else is here
	// Recovered, in the welcome of a client that came back with a
	// position: whether every event it missed follows (false: reload).
	Recovered *bool `json:"recovered,omitempty"`
}

// hello is a returning client's first message: its name and the position
// of the last event it got ("pos" of every event, added by encodeEvent).
type hello struct {
	Name  string `json:"name"`
	Since string `json:"since"`
}

// room sends every event to every member: the sessions that have told their
// name, which hold their member value (memberKey) and are subscribed to the
// room's topic. A session that has not is not in the room yet. Events go
// out with Handler.Publish, so with -redis or -nats they reach the members
// on every node; the welcome's member list comes from presence (Handler.Members), so
// it names the members of every node. The room's topic keeps its last 1000
// events for 10 minutes: a page that lost its connection comes back with
// the position of its last event and gets the ones it missed.
type room struct {
	nextID atomic.Int64
	h      *sockjs.Handler // set before the handler serves
	// shared: history and presence are kept (one node, -redis or -nats);
	// on a cluster engine with neither, the welcome lists this node's
	// members.
	shared bool

	// mu orders joins against broadcasts, so that a newcomer's welcome
	// comes before any event sent after it joined.
	mu sync.Mutex
}

// memberKey is the session value under which a member keeps its member.
type memberKey struct{}

// roomTopic is the topic every member is subscribed to.
const roomTopic = "room"

// newRoom returns a room and its SockJS handler.
func newRoom(opts sockjs.Options) *room {
	r := &room{shared: opts.Cluster == nil}
	if hs, ps, ok := clusterStores(opts); ok { // with -redis or -nats: history and presence there
		opts.History.Store, opts.Presence.Store = hs, ps
		r.shared = true
	}
	if r.shared {
		opts.History.Rules = []history.Rule{{Pattern: roomTopic, Bounds: history.Bounds{Size: 1000, TTL: 10 * time.Minute}}}
		opts.History.Encode = encodeEvent
	}
	r.h = sockjs.NewHandler(opts, r.serve)
	return r
}

// clusterStores returns the history and presence stores of the cluster's
// engine: in Redis with -redis, in NATS JetStream with -nats.
func clusterStores(opts sockjs.Options) (history.Store, presence.Store, bool) {
	if opts.Cluster == nil {
		return nil, nil, false
	}
	switch b := opts.Cluster.Bus.(type) {
	case *redis.Bus:
		return b.History(), b.Presence(), true
	case *nats.Bus:
		h, err1 := b.History(nats.HistoryOptions{})
		p, err2 := b.Presence(nats.PresenceOptions{})
		if err := errors.Join(err1, err2); err != nil {
			log.Printf("chat: no shared history and presence on NATS: %v", err)
			return nil, nil, false
		}
		return h, p, true
	}
	return nil, nil, false
}

// encodeEvent adds the event's position to its JSON object, as "pos".
func encodeEvent(_ string, pos sockjs.Position, msg string) string {
	return `{"pos":"` + pos.String() + `",` + strings.TrimPrefix(msg, "{")
}

// memberOf returns s's member value, if s has joined.
func memberOf(s *sockjs.Session) (member, bool) {
	m, ok := s.Get(memberKey{}).(member)
	return m, ok
}

// broadcast publishes e to the room's topic, encoded once per node. On one
// node Publish only queues, so holding mu waits for no client.
func (r *room) broadcast(ctx context.Context, e event) {
	b, _ := json.Marshal(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.h.Publish(ctx, roomTopic, string(b)) // logged by the handler; a chat line is not worth more
}

// join makes s a member and welcomes it with the list of the others. Both
// happen under the room's lock, so that no event sent to members can reach
// s before its welcome. A client that comes back with since gets the events
// it missed, then its welcome, which says whether they are all there.
func (r *room) join(ctx context.Context, s *sockjs.Session, me member, since *sockjs.Position) (leave func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	others, err := r.others(ctx, s)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(others, func(a, b member) int { return strings.Compare(a.User, b.User) })
	// In presence before the welcome goes out: a client that has its
	// welcome is listed in every later newcomer's welcome, on any node.
	leavePresence := func() {}
	if r.shared {
		info, _ := json.Marshal(me)
		if leavePresence, err = r.h.Join(ctx, s, roomTopic, string(info)); err != nil {
			return nil, err
		}
	}
	s.Set(memberKey{}, me)
	welcome := event{Type: "welcome", User: me.User, Transport: me.Transport, Users: others}
	opts := sockjs.SubscribeOptions{Since: since}
	if since == nil {
		_ = s.SendJSON(welcome) // first, then every event after it
	}
	sub, err := r.h.SubscribeWith(ctx, s, roomTopic, opts)
	if err != nil {
		leavePresence()
		s.Set(memberKey{}, nil)
		return nil, err
	}
	if since != nil {
		// After the events it missed, now queued: the page applies them,
		// then takes the welcome's list of who is here now.
		welcome.Recovered = &sub.Recovered
		_ = s.SendJSON(welcome)
	}
	return func() {
		r.mu.Lock()
		sub.Unsubscribe()
		leavePresence()
		s.Set(memberKey{}, nil)
		r.mu.Unlock()
	}, nil
}

// others lists the members but s: those of every node (presence), or
// without it this node's.
func (r *room) others(ctx context.Context, s *sockjs.Session) ([]member, error) {
	var others []member
	if !r.shared {
		r.h.Range(func(o *sockjs.Session) bool {
			if m, ok := memberOf(o); ok && o != s {
				others = append(others, m)
			}
			return true
		})
		return others, nil
	}
	present, err := r.h.Members(ctx, roomTopic)
	if err != nil {
		return nil, err
	}
	for _, p := range present {
		var m member
		if json.Unmarshal([]byte(p.Info), &m) == nil && p.ID != s.ID() {
			others = append(others, m)
		}
	}
	return others, nil
}

// serve runs one user's session. The first message a client sends is its
// name; every later one is a chat line.
func (r *room) serve(ctx context.Context, s *sockjs.Session) {
	name, err := s.Recv(ctx)
	if err != nil {
		return
	}
	var since *sockjs.Position
	var back hello // a returning page sends {"name":…,"since":…}
	if strings.HasPrefix(name, "{") && json.Unmarshal([]byte(name), &back) == nil {
		if p, err := sockjs.ParsePosition(back.Since); err == nil {
			name, since = back.Name, &p
		}
	}
	me := member{User: cleanName(name, r.nextID.Add(1)), Transport: s.Transport()}
	leave, err := r.join(ctx, s, me, since)
	if err != nil {
		s.Close(sockjs.CloseInternalError, "Chat unavailable")
		return
	}
	r.broadcast(ctx, event{Type: "join", User: me.User, Transport: me.Transport})
	defer func() {
		leave()
		// ctx ends with the session: the farewell needs one of its own.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		r.broadcast(bctx, event{Type: "leave", User: me.User, Transport: me.Transport})
	}()
	for {
		text, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if len(text) > 4096 {
			text = text[:4096]
		}
		r.broadcast(ctx, event{Type: "message", User: me.User, Transport: me.Transport, Text: strings.ToValidUTF8(text, "\uFFFD")})
	}
}

// cleanName keeps user names short and printable; an empty one gets a number.
func cleanName(name string, id int64) string {
	name = strings.TrimSpace(strings.ToValidUTF8(name, ""))
	if utf8.RuneCountInString(name) > 32 {
		name = strings.TrimSpace(string([]rune(name)[:32]))
	}
	if name == "" {
		name = fmt.Sprintf("user-%d", id)
	}
	return name
}
