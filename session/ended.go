package session

import "time"

// NewEnded returns a session that is already over, as seen by a client that
// had its open frame long ago: a receiver gets only its close frame. It has
// no timer and no application. The cluster answers with one a request for a
// session whose node was lost, so that the client learns the session ended
// rather than being handed a new one under the same id.
func NewEnded(id string, e *CloseError) *Session {
	s := New(id, Config{DisconnectDelay: time.Hour})
	s.Expire(e)
	s.mu.Lock()
	s.openSent = true
	s.mu.Unlock()
	return s
}
