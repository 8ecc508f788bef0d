// Package tunnel is the wire format with which a cluster node carries an
// HTTP request of a SockJS session to the node that owns the session, and
// the response back, over a pubsub.Bus. Package sockjs drives it; this
// package only encodes and decodes, and checks what it decodes.
//
// One exchange, named by ID:
//
//	edge  -> owner  Open    the request (method, path, query, headers, body)
//	owner -> edge   Chunk   response bytes, Seq 1, 2, ...; the first carries
//	                        the status and headers
//	edge  -> owner  Ack     Seq written and flushed to the client (Err if not)
//	owner -> edge   End     the response is complete (Seq: the last chunk)
//	edge  -> owner  Cancel  the client went away
//
// The bus delivers at most once, so every Chunk is acknowledged before the
// owner's transport counts it written, and the edge refuses a gap in Seq:
// what is lost in transit ends the exchange as a failed write would, never
// silently.
package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Kind is the type of a message.
type Kind uint8

// Message kinds.
const (
	KindOpen Kind = iota + 1
	KindChunk
	KindAck
	KindEnd
	KindCancel
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindOpen:
		return "open"
	case KindChunk:
		return "chunk"
	case KindAck:
		return "ack"
	case KindEnd:
		return "end"
	case KindCancel:
		return "cancel"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Msg is one message of an exchange. Which fields are set depends on Kind.
type Msg struct {
	Kind Kind   `json:"k"`
	ID   string `json:"i"`
	// From is the node that sent an Open, where answers go.
	From string `json:"f,omitempty"`
	// Seq numbers chunks from 1; an Ack or End names one.
	Seq uint64 `json:"s,omitempty"`

	// Open.
	Session    string `json:"sid,omitempty"`
	Transport  string `json:"t,omitempty"`
	Method     string `json:"m,omitempty"`
	Path       string `json:"p,omitempty"`
	RawQuery   string `json:"q,omitempty"`
	Host       string `json:"h,omitempty"`
	RemoteAddr string `json:"ra,omitempty"`
	TLS        bool   `json:"tls,omitempty"`

	// Open (request headers) and the first Chunk (response headers).
	Header http.Header `json:"hd,omitempty"`
	// Status is the response status, on the first Chunk.
	Status int `json:"st,omitempty"`
	// Body is the request body (Open) or response bytes (Chunk).
	Body []byte `json:"b,omitempty"`
	// Err says why an Ack is negative or an End abnormal.
	Err string `json:"e,omitempty"`
}

// MaxIDBytes bounds the ids in a message (exchange, node, session).
const MaxIDBytes = 256

// ErrMalformed is wrapped by every Decode error.
var ErrMalformed = errors.New("tunnel: malformed message")

// Encode returns m's wire form.
func Encode(m *Msg) []byte {
	p, err := json.Marshal(m)
	if err != nil {
		// Every field marshals; only a programming error gets here.
		panic(fmt.Sprintf("tunnel: encode %s: %v", m.Kind, err))
	}
	return p
}

// Decode parses and checks one message.
func Decode(p []byte) (*Msg, error) {
	var m Msg
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// "absent" and "empty" mean the same; keep one form.
	if len(m.Body) == 0 {
		m.Body = nil
	}
	if len(m.Header) == 0 {
		m.Header = nil
	}
	return &m, nil
}

func (m *Msg) check() error {
	if m.ID == "" || len(m.ID) > MaxIDBytes {
		return errors.New("missing or over-long exchange id")
	}
	switch m.Kind {
	case KindOpen:
		switch {
		case m.From == "" || len(m.From) > MaxIDBytes:
			return errors.New("open without a valid sender node")
		case m.Session == "" || len(m.Session) > MaxIDBytes:
			return errors.New("open without a valid session id")
		case m.Transport == "" || m.Method == "" || m.Path == "":
			return errors.New("open without transport, method or path")
		}
	case KindChunk:
		if m.Seq == 0 {
			return errors.New("chunk without a sequence number")
		}
		if m.Seq == 1 && (m.Status < 100 || m.Status > 999) {
			return fmt.Errorf("first chunk with status %d", m.Status)
		}
	case KindAck:
		if m.Seq == 0 {
			return errors.New("ack without a sequence number")
		}
	case KindEnd, KindCancel:
	default:
		return fmt.Errorf("unknown kind %d", m.Kind)
	}
	return nil
}
