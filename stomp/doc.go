// Package stomp speaks STOMP 1.2 (with 1.1 and 1.0 clients accepted) over
// Sockline sessions, the messaging layer most SockJS applications use
// through @stomp/stompjs.
//
// # Codec
//
// [Decoder] reads frames from a stream that arrives in pieces, as it does
// over SockJS, where a message may carry several frames or part of one.
// [Append] and [Encode] write them. Header entries are escaped (\\ \n \r \c)
// in every frame except CONNECT and CONNECTED, as STOMP 1.2 says, and a
// content-length is always written for a non-empty body, so bodies may hold
// NUL bytes. The decoder is bounded: one frame and its header count are
// limited, and a frame past the limits is refused as soon as that is
// visible, so a hostile client cannot make the server buffer without bound.
//
// Over SockJS every message is text: a body must be UTF-8 to survive the
// trip (binary bodies need a plain websocket or an encoding such as
// base64).
package stomp
