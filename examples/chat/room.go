package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
// name. A session that has not is not in the room yet.
type room struct {
	nextID atomic.Int64

	mu      sync.Mutex
	members map[*sockjs.Session]member
}

func newRoom() *room { return &room{members: make(map[*sockjs.Session]member)} }

// broadcast encodes e once and queues it for every member.
func (r *room) broadcast(e event) {
	b, _ := json.Marshal(e)
	msg := sockjs.NewMessage(string(b))
	r.mu.Lock()
	to := slices.Collect(maps.Keys(r.members))
	r.mu.Unlock()
	for _, s := range to {
		_ = s.SendMessage(msg) // a closed session is leaving anyway
	}
}

// join adds s to the room and welcomes it with the list of the others. Both
// happen under the room's lock (Send only queues), so that no event sent to
// members can reach s before its welcome.
func (r *room) join(s *sockjs.Session, me member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	others := slices.Collect(maps.Values(r.members))
	slices.SortFunc(others, func(a, b member) int { return strings.Compare(a.User, b.User) })
	r.members[s] = me
	welcome, _ := json.Marshal(event{Type: "welcome", User: me.User, Transport: me.Transport, Users: others})
	_ = s.Send(string(welcome))
}

func (r *room) leave(s *sockjs.Session) {
	r.mu.Lock()
	delete(r.members, s)
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
