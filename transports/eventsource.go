package transports

import "net/http"

// eventSource is the EventSource (Server-Sent Events) envelope: one
// "data:" record per frame. A frame never holds CR or LF (they are JSON
// escapes), so it always fits on one record line.
var eventSource = &framing{
	name:        NameEventSource,
	contentType: "text/event-stream; charset=UTF-8",
	streaming:   true,
	// An empty line first: old Opera dropped the first record of a stream.
	prelude: func(*http.Request) []byte { return eventSourcePrelude },
	wrap: func(dst []byte, _ *http.Request, f []byte) []byte {
		dst = append(dst, "data: "...)
		dst = append(dst, f...)
		return append(dst, "\r\n\r\n"...)
	},
}

var eventSourcePrelude = []byte("\r\n")

// EventSource serves GET {prefix}/{server}/{session}/eventsource: a
// text/event-stream response carrying "data: <frame>\r\n\r\n" records until
// the response limit, after which the browser's EventSource reconnects.
func (c *Config) EventSource(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	c.receive(s, eventSource, w, r, id)
}
