package session

import "time"

// NewEnded returns a session that is already over, as seen by a client that
// had its open frame long ago: a receiver gets only its close frame. It has
// no timer and no application. The cluster answers with one a request for a
// session whose node was lost, so that the client learns the session ended
// rather than being handed a new one under the same id.
func NewEnded(id string, e *CloseError) *Session {
	s := New(id, Config{DisconnectDelay: time.Hour})
	s.ExpireUnopened(e)
	return s
}

// ExpireUnopened is Expire for a session that must never open: a receiver
// gets only its close frame, no open frame first. A handler uses it for a
// session that a request created but may not run (the handler shuts down,
// or the request skipped authorization), since the id may be that of a
// session the handler has just forgotten, whose client had its "o": a
// second "o" would tell that client its session started again.
func (s *Session) ExpireUnopened(e *CloseError) {
	s.mu.Lock()
	s.openSent = true
	s.mu.Unlock()
	s.Expire(e)
}
