package transports

import (
	"errors"
	"io"
	"net/http"

	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
)

// XHRSend serves POST {prefix}/{server}/{session}/xhr_send: a JSON array of
// messages for an existing session, answered with 204.
func (c *Config) XHRSend(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	if !c.send(s, w, r, id, func(_ string, body []byte) ([]byte, error) { return body, nil }) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	NoCache(h)
	w.WriteHeader(http.StatusNoContent)
}

// send is the shared logic of xhr_send and jsonp_send: it hands the
// messages of one request to session id, or writes the error answer and
// returns false. payload extracts the JSON array from the body, given the
// request's Content-Type.
//
// Memory is what it guards. The session lets one send in at a time (others
// wait for it, or get 503 after Config.SendTimeout), and room for the body
// is reserved in the session's inbox before the body is read: a client
// firing many large sends in parallel, at an application that does not
// read, leaves their bodies unread in the network rather than in the heap.
// The messages are then delivered all at once or not at all. A session
// that is closed, or that the application did not make room in within the
// timeout (it is then closed with 1013), drops the send; the client learns
// of the close from its receiving request, as for every close, so the send
// itself is answered as a success.
func (c *Config) send(s Sessions, w http.ResponseWriter, r *http.Request, id string, payload func(contentType string, body []byte) ([]byte, error)) bool {
	sess, ok := s.Lookup(id)
	if !ok {
		plainError(w, "Session not found.", http.StatusNotFound)
		return false
	}
	size := r.ContentLength
	switch {
	case size > c.MaxMessageBytes:
		plainError(w, "Payload too large.", http.StatusRequestEntityTooLarge)
		return false
	case size < 0: // unknown (chunked): as much as it may be
		size = c.MaxMessageBytes
	}
	snd, err := sess.BeginSend(r.Context(), int(size))
	switch {
	case errors.Is(err, session.ErrSendBusy):
		w.Header().Set("Retry-After", "1")
		plainError(w, "Another send to this session is in progress.", http.StatusServiceUnavailable)
		return false
	case errors.Is(err, session.ErrClosed):
		return true // dropped: see above
	case err != nil: // the client went away
		return false
	}
	defer snd.End()
	body, ok := c.readBody(w, r)
	if !ok {
		return false
	}
	data, err := payload(r.Header.Get("Content-Type"), body)
	if err != nil {
		plainError(w, "Broken JSON encoding.", http.StatusInternalServerError)
		return false
	}
	msgs, err := frame.DecodeMessages(data)
	switch {
	case errors.Is(err, frame.ErrEmptyPayload):
		plainError(w, "Payload expected.", http.StatusInternalServerError)
		return false
	case err != nil:
		plainError(w, "Broken JSON encoding.", http.StatusInternalServerError)
		return false
	}
	if err := snd.Deliver(r.Context(), msgs); err != nil && !errors.Is(err, session.ErrClosed) {
		return false // the client went away: it cannot take the send as done
	}
	return true
}

// readBody reads a sending request's body up to MaxMessageBytes; past that
// it answers 413 and returns false. With a Content-Length it allocates the
// body once, at its size.
func (c *Config) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	rd := http.MaxBytesReader(w, r.Body, c.MaxMessageBytes)
	var body []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= c.MaxMessageBytes {
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			plainError(w, "Payload too large.", http.StatusRequestEntityTooLarge)
		} else {
			plainError(w, "Payload could not be read.", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}

// plainError writes a short text error that is never cached.
func plainError(w http.ResponseWriter, msg string, code int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-Content-Type-Options", "nosniff")
	NoCache(h)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}
