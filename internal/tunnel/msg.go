// Package tunnel is the wire format with which a cluster node carries an
// HTTP request of a SockJS session to the node that owns the session, and
// the response back, over a pubsub.Bus. Package sockjs drives it; this
// package only encodes, authenticates, decodes and checks.
//
// One exchange, named by ID (unique to the edge's process incarnation, so a
// node restarted under the same name never reuses one):
//
//	edge  -> owner  Open    the request (method, path, query, content type, body)
//	owner -> edge   Chunk   response bytes, Seq 1, 2, ...; the first carries
//	                        the status and headers; Final marks the last
//	owner -> edge   Wait    nothing to send yet, the exchange is alive
//	edge  -> owner  Ack     Seq written and flushed to the client (Err if not);
//	                        for a Final chunk only Err: the owner does not
//	                        wait, it only hears of a failure
//	owner -> edge   End     the response is complete (Seq: the last chunk),
//	                        or failed (Err): the edge cuts the response
//	edge  -> owner  Cancel  the client went away
//	edge  -> owner  Drain   the edge is shutting down: end the response at
//	                        the next frame boundary
//
// Nodes may also talk over direct connections instead of the bus (see
// package sockjs, Cluster.DirectListener): messages sent over the bus then
// carry the sender's direct address (Addr), and a connection starts with a
// Hello each way, naming the incarnation the dialer wants (Body) and the
// one that answers (From), so that a node restarted at the same address
// is never taken for the old one.
//
// Every message names the incarnation that sent it (From), and every
// message carries an HMAC-SHA256 tag made with the cluster's shared secret:
// the bus is shared infrastructure, and a message anyone could forge would
// put frames into any client's response. The bus delivers at most once, so
// every Chunk is acknowledged before the owner's transport counts it
// written, and the edge refuses a gap in Seq or a chunk from another
// incarnation: what is lost in transit ends the exchange as a failed write
// would, never silently.
//
// An edge that hears nothing of an exchange for a while sends its Open
// again (the same ID): the owner never serves an exchange twice, and
// answers the copy with a Wait while it runs, or with the exchange's last
// message again once it has ended; an edge that is sent a Chunk or Wait of
// an exchange it no longer has answers with a Cancel (its first was lost).
//
// The encoding is binary (a version byte, then the fields in a fixed order,
// strings and the body length-prefixed, then the tag): chunks are mostly
// the response bytes themselves, and JSON would have base64-encoded them.
package tunnel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"sync"
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
	KindWait
	KindDrain
	KindHello
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
	case KindWait:
		return "wait"
	case KindDrain:
		return "drain"
	case KindHello:
		return "hello"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Msg is one message of an exchange. Which fields are set depends on Kind.
type Msg struct {
	Kind Kind
	// Final marks a response's last chunk: no End follows it.
	Final bool
	// ID names the exchange.
	ID string
	// From is the incarnation that sent the message: on an Open, where the
	// answers go; on the answers, the owner the edge must keep hearing from.
	From string
	// Seq numbers chunks from 1; an Ack or End names one.
	Seq uint64

	// Open.
	Session     string
	Transport   string
	Method      string
	Path        string
	RawQuery    string
	ContentType string

	// Header is the response's header, on the first Chunk.
	Header http.Header
	// Status is the response status, on the first Chunk.
	Status int
	// Body is the request body (Open) or response bytes (Chunk).
	Body []byte
	// Err says why an Ack is negative or an End abnormal.
	Err string
	// Addr is the address at which the sender takes direct connections
	// from other nodes ("" when it takes none).
	Addr string
}

// HelloID is the exchange id of a Hello, which belongs to no exchange.
const HelloID = "hello"

// Limits of what Decode accepts.
const (
	// MaxIDBytes bounds the ids in a message (exchange, node, session).
	MaxIDBytes = 256
	// maxHeaderFields bounds a response's header lines.
	maxHeaderFields = 64
)

// version is the first byte of every message; a node of another version
// is refused rather than misread.
const version = 0xA2

// tagBytes is the length of the truncated HMAC-SHA256 tag.
const tagBytes = 16

// Errors of Decode.
var (
	// ErrMalformed is wrapped by every Decode error of a message that does
	// not parse or check.
	ErrMalformed = errors.New("tunnel: malformed message")
	// ErrForged reports a message whose tag does not match: it was not
	// made with this cluster's secret (another cluster on the same Redis,
	// a node with another secret, or someone forging it).
	ErrForged = errors.New("tunnel: message not authenticated by the cluster secret (check that every node has the same Cluster.Secret)")
)

// MinSecretBytes is the shortest cluster secret a Codec takes.
const MinSecretBytes = 16

// Codec encodes and decodes messages authenticated with one secret. It is
// safe for concurrent use.
type Codec struct {
	macs sync.Pool
}

// NewCodec returns a Codec for secret, which must be at least
// MinSecretBytes long.
func NewCodec(secret []byte) (*Codec, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("tunnel: the cluster secret has %d bytes; give every node the same random secret of at least %d", len(secret), MinSecretBytes)
	}
	key := append([]byte(nil), secret...)
	c := &Codec{}
	c.macs.New = func() any { return hmac.New(sha256.New, key) }
	return c, nil
}

func (c *Codec) tag(dst, p []byte) []byte {
	mac := c.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(p)
	var sum [sha256.Size]byte
	dst = append(dst, mac.Sum(sum[:0])[:tagBytes]...)
	c.macs.Put(mac)
	return dst
}

// Encode returns m's wire form, tagged.
func (c *Codec) Encode(m *Msg) []byte {
	n := 33 + len(m.Addr) + len(m.ID) + len(m.From) + len(m.Session) + len(m.Transport) + len(m.Method) +
		len(m.Path) + len(m.RawQuery) + len(m.ContentType) + len(m.Body) + len(m.Err) + tagBytes
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	p := make([]byte, 0, n)
	var flags byte
	if m.Final {
		flags = 1
	}
	p = append(p, version, byte(m.Kind), flags)
	p = appendString(p, m.ID)
	p = appendString(p, m.From)
	p = binary.AppendUvarint(p, m.Seq)
	p = binary.AppendUvarint(p, uint64(m.Status))
	p = appendString(p, m.Session)
	p = appendString(p, m.Transport)
	p = appendString(p, m.Method)
	p = appendString(p, m.Path)
	p = appendString(p, m.RawQuery)
	p = appendString(p, m.ContentType)
	p = appendString(p, m.Err)
	p = appendString(p, m.Addr)
	lines := 0
	for _, vs := range m.Header {
		lines += len(vs)
	}
	p = binary.AppendUvarint(p, uint64(lines))
	for k, vs := range m.Header {
		for _, v := range vs {
			p = appendString(p, k)
			p = appendString(p, v)
		}
	}
	p = binary.AppendUvarint(p, uint64(len(m.Body)))
	p = append(p, m.Body...)
	return c.tag(p, p)
}

func appendString(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

// Decode authenticates, parses and checks one message. A tag that does not
// match gives ErrForged; anything else wrong ErrMalformed.
func (c *Codec) Decode(p []byte) (*Msg, error) {
	if len(p) < 3+tagBytes {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(p))
	}
	body, tag := p[:len(p)-tagBytes], p[len(p)-tagBytes:]
	var want [tagBytes]byte
	if !hmac.Equal(c.tag(want[:0], body), tag) {
		return nil, ErrForged
	}
	m, err := parse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

// reader reads the fields of a message in order; the first error sticks.
type reader struct {
	p   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.err = errors.New("bad number")
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) bytes(limit int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.p)) || n > uint64(limit) {
		r.err = fmt.Errorf("field of %d bytes (limit %d, %d left)", n, limit, len(r.p))
		return nil
	}
	b := r.p[:n:n]
	r.p = r.p[n:]
	return b
}

func (r *reader) string(limit int) string { return string(r.bytes(limit)) }

func parse(p []byte) (*Msg, error) {
	if p[0] != version {
		return nil, fmt.Errorf("version %#x, want %#x (every node must run the same Sockline wire version)", p[0], version)
	}
	if p[2]&^1 != 0 {
		return nil, fmt.Errorf("unknown flags %#x", p[2])
	}
	m := &Msg{Kind: Kind(p[1]), Final: p[2] == 1}
	r := &reader{p: p[3:]}
	const anyLen = 1 << 30
	m.ID = r.string(MaxIDBytes)
	m.From = r.string(MaxIDBytes)
	m.Seq = r.uvarint()
	status := r.uvarint()
	m.Session = r.string(MaxIDBytes)
	m.Transport = r.string(MaxIDBytes)
	m.Method = r.string(MaxIDBytes)
	m.Path = r.string(anyLen)
	m.RawQuery = r.string(anyLen)
	m.ContentType = r.string(anyLen)
	m.Err = r.string(anyLen)
	m.Addr = r.string(MaxIDBytes)
	lines := r.uvarint()
	if lines > maxHeaderFields {
		return nil, fmt.Errorf("%d header lines (limit %d)", lines, maxHeaderFields)
	}
	for range lines {
		k, v := r.string(anyLen), r.string(anyLen)
		if r.err != nil {
			break
		}
		if m.Header == nil {
			m.Header = make(http.Header)
		}
		m.Header[k] = append(m.Header[k], v)
	}
	if body := r.bytes(anyLen); len(body) > 0 {
		m.Body = append([]byte(nil), body...)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.p) != 0 {
		return nil, fmt.Errorf("%d bytes after the body", len(r.p))
	}
	if status > 999 {
		return nil, fmt.Errorf("status %d", status)
	}
	m.Status = int(status)
	return m, nil
}

func (m *Msg) check() error {
	if m.ID == "" {
		return errors.New("missing exchange id")
	}
	if m.From == "" {
		return errors.New("missing sender")
	}
	if m.Final && m.Kind != KindChunk {
		return fmt.Errorf("final flag on a %s", m.Kind)
	}
	switch m.Kind {
	case KindOpen:
		switch {
		case m.Session == "":
			return errors.New("open without a session id")
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
	case KindHello:
		if m.ID != HelloID {
			return fmt.Errorf("hello with exchange id %q", m.ID)
		}
	case KindEnd, KindCancel, KindWait, KindDrain:
	default:
		return fmt.Errorf("unknown kind %d", m.Kind)
	}
	return nil
}
