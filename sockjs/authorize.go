package sockjs

import (
	"context"
	"errors"
	"net/http"

	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/transports"
)

// ErrUnauthorized, returned (or wrapped) by Options.Authorize, refuses the
// session with 401 Unauthorized instead of the default 403 Forbidden: the
// client has not proved who it is (no or an expired token), rather than
// being someone who may not come in.
var ErrUnauthorized = errors.New("sockjs: unauthorized")

// ErrForbidden, returned (or wrapped) by Options.Authorize, refuses the
// session with 403 Forbidden. Any error other than ErrUnauthorized does the
// same; this one only names the intent.
var ErrForbidden = errors.New("sockjs: forbidden")

// errNotAuthorized closes a session that a request created without going
// through Options.Authorize (see Handler.Open).
var errNotAuthorized = &session.CloseError{Code: ClosePolicyViolation, Reason: "Not authorized", Cause: session.ErrServerClosed}

// authorizedKey is the request context key under which the handler passes
// the context Options.Authorize returned to Open.
type authorizedKey struct{}

// authorized is the value stored under authorizedKey.
type authorized struct{ ctx context.Context }

// authorize runs Options.Authorize for a request that would create a
// session. On success it returns r carrying the context to give the
// session; on refusal it has answered 401 or 403 and returns false.
//
// The context Authorize returns is carried as a value, not made r's
// context: the transport still needs r's own context to notice the client
// leaving.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, transport string) (*http.Request, bool) {
	ctx, err := h.opts.Authorize(r)
	if err != nil {
		status, body := http.StatusForbidden, "Forbidden."
		if errors.Is(err, ErrUnauthorized) {
			status, body = http.StatusUnauthorized, "Unauthorized."
		}
		if ev := h.opts.Events; ev != nil {
			ev.AuthorizationRefused(r, transport, err)
		}
		if h.debug() {
			h.opts.Logger.Debug("sockjs: authorization refused", "transport", transport, "status", status, "error", err, "remote", r.RemoteAddr)
		}
		hd := w.Header()
		hd.Set("Content-Type", "text/plain; charset=UTF-8")
		hd.Set("X-Content-Type-Options", "nosniff")
		transports.NoCache(hd)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return nil, false
	}
	if ctx == nil {
		ctx = r.Context()
	}
	return r.WithContext(context.WithValue(r.Context(), authorizedKey{}, authorized{ctx})), true
}

// sessionBase returns the context a session created by r takes its values
// from, and whether r may create a session: with Options.Authorize set,
// only a request it has passed may.
func (h *Handler) sessionBase(r *http.Request) (context.Context, bool) {
	if a, ok := r.Context().Value(authorizedKey{}).(authorized); ok {
		return a.ctx, true
	}
	return r.Context(), h.opts.Authorize == nil
}
