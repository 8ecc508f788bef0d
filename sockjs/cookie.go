package sockjs

import "net/http"

// setCookie is replaced when cookie support is configured.
func (h *Handler) setCookie(http.ResponseWriter, *http.Request) {}

func (h *Handler) cookieNeeded() bool { return false }
