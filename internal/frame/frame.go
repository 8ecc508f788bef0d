// Package frame encodes and decodes the SockJS wire frames.
//
// A SockJS server sends four kinds of frames, whatever the transport:
//
//	o                  the session is open
//	h                  heartbeat
//	a["m1","m2",...]   a batch of messages, JSON strings
//	c[code,"reason"]   the session is closed
//
// Transports wrap these frames in their own envelope (a newline, an
// event-stream record, a <script> chunk, a jsonp callback); this package
// knows nothing of that.
//
// Messages are JSON strings with SockJS's extra escaping: besides what JSON
// requires, code points that some browsers or proxies mangle or treat as line
// terminators are sent as \u escapes (see [Escapable]). Everything here is
// pure and safe for concurrent use.
package frame

import (
	"errors"
	"slices"
	"strconv"
)

// Fixed frames.
var (
	// Open is the frame that starts every session.
	Open = []byte("o")
	// Heartbeat keeps idle connections alive through proxies.
	Heartbeat = []byte("h")
)

// Close codes and reasons fixed by the SockJS protocol.
const (
	// CodeGoAway is the code of a normal close initiated by the server.
	CodeGoAway = 3000
	// ReasonGoAway is the conventional reason sent with CodeGoAway.
	ReasonGoAway = "Go away!"
	// CodeAnotherConnection is sent to a second receiver of a session that
	// already has one attached.
	CodeAnotherConnection = 2010
	// ReasonAnotherConnection goes with CodeAnotherConnection.
	ReasonAnotherConnection = "Another connection still open"
	// CodeInterrupted closes a session whose receiving request was aborted.
	CodeInterrupted = 1002
	// ReasonInterrupted goes with CodeInterrupted.
	ReasonInterrupted = "Connection interrupted"
)

// AppendMessages appends an "a" frame holding the already quoted messages.
// Quoting once per message (see [AppendQuote]) lets a broadcast encode a
// message once and share the bytes among every session. When dst lacks
// room it grows once, to the frame's size.
func AppendMessages(dst []byte, quoted [][]byte) []byte {
	n := len("a[]") + max(len(quoted)-1, 0) // brackets and commas
	for _, q := range quoted {
		n += len(q)
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, 'a', '[')
	for i, q := range quoted {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, q...)
	}
	return append(dst, ']')
}

// AppendClose appends a "c" frame with the code and reason.
func AppendClose(dst []byte, code int, reason string) []byte {
	dst = append(dst, 'c', '[')
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ',')
	dst = AppendQuote(dst, reason)
	return append(dst, ']')
}

// Decoding errors. Transports map them to the protocol's answers
// ("Payload expected." and "Broken JSON encoding.").
var (
	// ErrEmptyPayload means the client sent no data at all.
	ErrEmptyPayload = errors.New("sockjs: payload expected")
	// ErrBrokenJSON means the data was not a JSON string or array of strings.
	ErrBrokenJSON = errors.New("sockjs: broken JSON encoding")
)
