package transports

import (
	"bytes"
	"net/http"
)

// eventSource is the EventSource (Server-Sent Events) envelope: one
// "data:" record per frame. A frame never holds CR, LF or NUL (JSON
// escapes them), so it always fits on one record line.
var eventSource = &framing{
	name: NameEventSource,
	// Protocol 0.3.3's suite wants exactly this (spaces aside); the later
	// sockjs-protocol.py wants "text/event-stream" alone. Browsers accept
	// both. See R-ES-1 in docs/PROTOCOL-RULES.md.
	contentType: "text/event-stream; charset=UTF-8",
	// Browsers do not sniff an event stream, but the header is cheap and
	// keeps a response that a proxy or an old browser mislabels from being
	// rendered.
	nosniff:   true,
	streaming: true,
	// An empty line first: old Opera dropped the first record of a stream.
	prelude: func(*http.Request) []byte { return eventSourcePrelude },
	wrap:    eventSourceFrame,
}

var eventSourcePrelude = []byte("\r\n")

// eventSourceFrame writes "data: <frame>\r\n\r\n" with every '%' of the
// frame written "%25": sockjs-client passes each record through
// decodeURI, which would turn "%41" in a message into "A" and throw on
// "%zz". (sockjs-node escapes the same way; the protocol suite has no '%'
// in its eventsource tests.)
func eventSourceFrame(dst []byte, _ *http.Request, f []byte) []byte {
	dst = append(dst, "data: "...)
	for {
		i := bytes.IndexByte(f, '%')
		if i < 0 {
			break
		}
		dst = append(dst, f[:i]...)
		dst = append(dst, "%25"...)
		f = f[i+1:]
	}
	dst = append(dst, f...)
	return append(dst, "\r\n\r\n"...)
}

// EventSource serves GET {prefix}/{server}/{session}/eventsource: a
// text/event-stream response carrying "data: <frame>\r\n\r\n" records until
// the response limit, after which sockjs-client opens a new one.
func (c *Config) EventSource(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	c.receive(s, eventSource, w, r, id)
}
