package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
}

// room sends every event to every member: the sessions that have told their
// name, which hold their member value (memberKey) and are subscribed to the
// room's topic. A session that has not is not in the room yet. Events go
// out with Handler.Publish, so with -redis they reach the members on every
// node; the welcome's member list names those of this node (presence across
// nodes would need a shared set, which this example leaves out).
type room struct {
	nextID atomic.Int64
	h      *sockjs.Handler // set before the handler serves

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
	r := &room{}
	r.h = sockjs.NewHandler(opts, r.serve)
	return r
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
// s before its welcome.
func (r *room) join(ctx context.Context, s *sockjs.Session, me member) (leave func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var others []member
	r.h.Range(func(o *sockjs.Session) bool {
		if m, ok := memberOf(o); ok && o != s {
			others = append(others, m)
		}
		return true
	})
	slices.SortFunc(others, func(a, b member) int { return strings.Compare(a.User, b.User) })
	s.Set(memberKey{}, me)
	_ = s.SendJSON(event{Type: "welcome", User: me.User, Transport: me.Transport, Users: others})
	unsubscribe, err := r.h.Subscribe(ctx, s, roomTopic)
	if err != nil {
		s.Set(memberKey{}, nil)
		return nil, err
	}
	return func() {
		r.mu.Lock()
		unsubscribe()
		s.Set(memberKey{}, nil)
		r.mu.Unlock()
	}, nil
}

// serve runs one user's session. The first message a client sends is its
// name; every later one is a chat line.
func (r *room) serve(ctx context.Context, s *sockjs.Session) {
	name, err := s.Recv(ctx)
	if err != nil {
		return
	}
	me := member{User: cleanName(name, r.nextID.Add(1)), Transport: s.Transport()}
	leave, err := r.join(ctx, s, me)
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
