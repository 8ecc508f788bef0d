package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
// name, which hold their member value (memberKey). A session that has not
// is not in the room yet. The handler keeps the sessions; the room only
// walks them with Range.
type room struct {
	nextID atomic.Int64
	h      *sockjs.Handler // set before the handler serves

	// mu orders joins against broadcasts, so that a newcomer's welcome
	// comes before any event sent after it joined.
	mu sync.Mutex
}

// memberKey is the session value under which a member keeps its member.
type memberKey struct{}

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

// broadcast encodes e once and queues it for every member. Send only
// queues, so holding mu while walking the sessions waits for no client.
func (r *room) broadcast(e event) {
	b, _ := json.Marshal(e)
	msg := sockjs.NewMessage(string(b))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Range(func(s *sockjs.Session) bool {
		if _, ok := memberOf(s); ok {
			_ = s.SendMessage(msg) // a closed session is leaving anyway
		}
		return true
	})
}

// join makes s a member and welcomes it with the list of the others. Both
// happen under the room's lock, so that no event sent to members can reach
// s before its welcome.
func (r *room) join(s *sockjs.Session, me member) {
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
}

func (r *room) leave(s *sockjs.Session) {
	r.mu.Lock()
	s.Set(memberKey{}, nil)
	r.mu.Unlock()
}

// serve runs one user's session. The first message a client sends is its
// name; every later one is a chat line.
func (r *room) serve(ctx context.Context, s *sockjs.Session) {
	name, err := s.Recv(ctx)
	if err != nil {
		return
	}
	me := member{User: cleanName(name, r.nextID.Add(1)), Transport: s.Transport()}
	r.join(s, me)
	r.broadcast(event{Type: "join", User: me.User, Transport: me.Transport})
	defer func() {
		r.leave(s)
		r.broadcast(event{Type: "leave", User: me.User, Transport: me.Transport})
	}()
	for {
		text, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if len(text) > 4096 {
			text = text[:4096]
		}
		r.broadcast(event{Type: "message", User: me.User, Transport: me.Transport, Text: strings.ToValidUTF8(text, "\uFFFD")})
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
