package stomp

import (
	"errors"
	"strconv"
)

// Commands of STOMP 1.2. Clients send the first group, servers the second.
const (
	CmdConnect     = "CONNECT"
	CmdStomp       = "STOMP"
	CmdSend        = "SEND"
	CmdSubscribe   = "SUBSCRIBE"
	CmdUnsubscribe = "UNSUBSCRIBE"
	CmdAck         = "ACK"
	CmdNack        = "NACK"
	CmdBegin       = "BEGIN"
	CmdCommit      = "COMMIT"
	CmdAbort       = "ABORT"
	CmdDisconnect  = "DISCONNECT"

	CmdConnected = "CONNECTED"
	CmdMessage   = "MESSAGE"
	CmdReceipt   = "RECEIPT"
	CmdError     = "ERROR"
)

// Header names the codec and the server give a meaning to.
const (
	HdrContentLength = "content-length"
	HdrContentType   = "content-type"
	HdrReceipt       = "receipt"
	HdrReceiptID     = "receipt-id"
	HdrDestination   = "destination"
	HdrID            = "id"
	HdrAck           = "ack"
	HdrSubscription  = "subscription"
	HdrMessageID     = "message-id"
	HdrTransaction   = "transaction"
	HdrMessage       = "message"
	HdrAcceptVersion = "accept-version"
	HdrVersion       = "version"
	HdrHost          = "host"
	HdrLogin         = "login"
	HdrPasscode      = "passcode"
	HdrHeartBeat     = "heart-beat"
	HdrSession       = "session"
	HdrServer        = "server"
)

// commands is every command the codec accepts, client and server.
var commands = map[string]bool{
	CmdConnect: true, CmdStomp: true, CmdSend: true, CmdSubscribe: true,
	CmdUnsubscribe: true, CmdAck: true, CmdNack: true, CmdBegin: true,
	CmdCommit: true, CmdAbort: true, CmdDisconnect: true,
	CmdConnected: true, CmdMessage: true, CmdReceipt: true, CmdError: true,
}

// Field is one header entry.
type Field struct {
	Key, Value string
}

// Header is a frame's header entries in wire order. STOMP allows a key to
// repeat; the first entry wins, which is what Get returns, and the others
// are kept so that a frame re-encodes as it came.
type Header []Field

// Get returns the value of the first entry named key, or "".
func (h Header) Get(key string) string {
	v, _ := h.Lookup(key)
	return v
}

// Lookup returns the value of the first entry named key and whether there
// is one.
func (h Header) Lookup(key string) (string, bool) {
	for _, f := range h {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Set replaces the value of the first entry named key and drops the other
// entries of that name, or appends an entry if there is none.
func (h *Header) Set(key, value string) {
	out := (*h)[:0]
	found := false
	for _, f := range *h {
		if f.Key == key {
			if found {
				continue
			}
			found = true
			f.Value = value
		}
		out = append(out, f)
	}
	if !found {
		out = append(out, Field{key, value})
	}
	*h = out
}

// Add appends an entry, after any of the same name (so it does not win).
func (h *Header) Add(key, value string) { *h = append(*h, Field{key, value}) }

// Del removes every entry named key.
func (h *Header) Del(key string) {
	out := (*h)[:0]
	for _, f := range *h {
		if f.Key != key {
			out = append(out, f)
		}
	}
	*h = out
}

// Clone returns a copy that shares nothing with h.
func (h Header) Clone() Header {
	if h == nil {
		return nil
	}
	return append(Header(nil), h...)
}

// Frame is one STOMP frame.
type Frame struct {
	Command string
	Header  Header
	Body    []byte
}

// Errors of the codec. Decoding errors are fatal for the connection: STOMP
// has no way to resynchronise after a malformed frame, so a server answers
// with an ERROR frame and closes.
var (
	// ErrMalformed wraps every syntax error of an incoming frame.
	ErrMalformed = errors.New("stomp: malformed frame")
	// ErrTooLarge: a frame or its header section is past the decoder's
	// limits. Raise Decoder.MaxFrameBytes or MaxHeaders if legitimate
	// frames hit it.
	ErrTooLarge = errors.New("stomp: frame too large")
	// ErrUnencodable: a frame cannot be written as STOMP (unknown command,
	// or a CONNECT/CONNECTED header that would need escaping, which those
	// frames do not have).
	ErrUnencodable = errors.New("stomp: frame cannot be encoded")
)

// escapes reports whether header entries of a frame with this command are
// escaped: STOMP 1.2 escapes every frame's header except CONNECT and
// CONNECTED, so that 1.0 peers can read the negotiation.
func escapes(command string) bool {
	return command != CmdConnect && command != CmdConnected
}

// contentLength parses a content-length value: a non-negative decimal.
func contentLength(v string) (int, bool) {
	if v == "" || len(v) > 10 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}
