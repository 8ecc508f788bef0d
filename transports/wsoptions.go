package transports

import (
	"net/http"

	"github.com/gorilla/websocket"
)

// WSOptions are the websocket endpoints' settings (websocket and raw
// websocket), embedded in Config.
type WSOptions struct {
	// Compression offers permessage-deflate (RFC 7692) to clients that ask
	// for it; the Sec-WebSocket-Extensions answer says whether it was
	// agreed.
	Compression bool
	// CompressionThreshold: with Compression agreed, messages shorter than
	// this many bytes go uncompressed (deflate costs more than it saves on
	// small frames, heartbeats included).
	CompressionThreshold int
	// ReadBufferSize and WriteBufferSize are the connection's I/O buffer
	// sizes. Zero means DefaultWebSocketReadBufferSize for reading (held
	// only while reading by a connection waiting in the poller, for life by
	// one with a reader goroutine; 256 bytes or less always means a reader
	// goroutine) and gorilla/websocket's
	// default, 4 KiB, for writing (lent by WriteBufferPool only while a
	// write is in progress).
	ReadBufferSize, WriteBufferSize int
	// WriteBufferPool lends write buffers to connections while they write,
	// so idle connections hold none; nil means a pool shared by every
	// handler of the process.
	WriteBufferPool websocket.BufferPool
	// Subprotocols are the subprotocols the server speaks, for the
	// Sec-WebSocket-Protocol negotiation; see SelectSubprotocol.
	Subprotocols []string
}

// SelectSubprotocol returns the subprotocol a handshake r agrees on with
// a server that speaks supported: the first of the client's
// Sec-WebSocket-Protocol values (listed in its order of preference, RFC
// 6455 section 4.1) that the server supports, or "" when none is (the
// handshake then goes on without a subprotocol, and the client decides
// whether to stay).
func SelectSubprotocol(r *http.Request, supported []string) string {
	if len(supported) == 0 {
		return ""
	}
	for _, p := range websocket.Subprotocols(r) {
		for _, s := range supported {
			if p == s {
				return p
			}
		}
	}
	return ""
}

// readBufferSize returns the read buffer size to use. It is never zero:
// with zero, gorilla would reuse the HTTP server's 4 KiB reader, and with
// it keep the server's whole per-connection state alive.
func (o *WSOptions) readBufferSize() int {
	if o.ReadBufferSize > 0 {
		return o.ReadBufferSize
	}
	return DefaultWebSocketReadBufferSize
}

// writeBuffers returns the write buffer pool to use.
func (o *WSOptions) writeBuffers() websocket.BufferPool {
	if o.WriteBufferPool != nil {
		return o.WriteBufferPool
	}
	return writeBufferPool
}

// compress turns compression on or off for the next message of len n.
// Without an agreed extension gorilla ignores it.
func (o *WSOptions) compress(conn *websocket.Conn, n int) {
	if o.Compression {
		conn.EnableWriteCompression(n >= o.CompressionThreshold)
	}
}
