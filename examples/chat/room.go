package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/sockline/sockline/sockjs"
)

// event is what the server broadcasts, as JSON.
type event struct {
	Type      string `json:"type"` // "join", "leave", "message" or "welcome"
	User      string `json:"user"`
	Transport string `json:"transport"`
	Text      string `json:"text,omitempty"`
}

// room broadcasts every event to every session of its handler.
type room struct {
	handler *sockjs.Handler
	nextID  atomic.Int64
}

func newRoom() *room { return &room{} }

func (r *room) broadcast(e event) {
	b, _ := json.Marshal(e)
	r.handler.Broadcast(string(b))
}

// serve runs one user's session. The first message a client sends is its
// name; every later one is a chat line.
func (r *room) serve(ctx context.Context, s *sockjs.Session) {
	name, err := s.Recv(ctx)
	if err != nil {
		return
	}
	name = cleanName(name, r.nextID.Add(1))
	welcome, _ := json.Marshal(event{Type: "welcome", User: name, Transport: s.Transport()})
	s.Send(string(welcome))
	r.broadcast(event{Type: "join", User: name, Transport: s.Transport()})
	defer r.broadcast(event{Type: "leave", User: name, Transport: s.Transport()})
	for {
		text, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if len(text) > 4096 {
			text = text[:4096]
		}
		r.broadcast(event{Type: "message", User: name, Transport: s.Transport(), Text: strings.ToValidUTF8(text, "\uFFFD")})
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
