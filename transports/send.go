package transports

import (
	"errors"
	"io"
	"net/http"

	"github.com/sockline/sockline/internal/frame"
)

// XHRSend serves POST {prefix}/{server}/{session}/xhr_send: a JSON array of
// messages for an existing session, answered with 204.
func (c *Config) XHRSend(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	if !c.deliver(s, w, r, id, body) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	NoCache(h)
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads a sending request's body up to MaxMessageBytes; past that
// it answers 413 and returns false.
func (c *Config) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.MaxMessageBytes))
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

// deliver decodes data and hands the messages to session id. It writes the
// protocol's error answer and returns false when it cannot: 404 for an
// unknown session, 500 for an empty or broken payload. A broken payload
// delivers nothing and leaves the session as it was.
func (c *Config) deliver(s Sessions, w http.ResponseWriter, r *http.Request, id string, data []byte) bool {
	sess, ok := s.Lookup(id)
	if !ok {
		plainError(w, "Session not found.", http.StatusNotFound)
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
	// A closed session drops what it is sent; the client learns of the close
	// from its receiving request, so the send itself still succeeds.
	if err := sess.Deliver(r.Context(), msgs); err != nil && r.Context().Err() != nil {
		return false
	}
	return true
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
