package sockjs_test

// Test clients for the shared scenario table (scenarios_test.go): one
// implementation of peer per transport, each speaking its transport the
// way sockjs-client does (receiving requests plus xhr_send or jsonp_send,
// or one websocket). A transport added to peerTransports gets every
// scenario for free.
//
// Every client checks its envelope strictly as it parses: a byte the
// transport should not have sent fails the scenario through Next. The
// htmlfile and jsonp clients also check that no response holds "</script",
// "<script" or "<!--" other than the envelope's own (sockjs-node fails
// this: a message could break out of its <script> block).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// peerEvent is what a client observes: a message, or the session's close.
type peerEvent struct {
	Msg    string
	Closed bool
	Code   int
	Reason string
}

// peer is one client session over one transport.
type peer interface {
	// Send sends msgs in order. It is safe for concurrent use; messages of
	// one call are never interleaved with those of another.
	Send(msgs ...string) error
	// Next returns the next event, failing if none comes within d.
	Next(d time.Duration) (peerEvent, error)
	// Ended waits up to d for the transport to finish after the session's
	// close (the stream ended, the repeated close frame came, the
	// WebSocket closed) and returns the first failure seen, if any.
	Ended(d time.Duration) error
	// Close abandons the session (the client goes away).
	Close()
}

// peerTransport describes one transport's test client.
type peerTransport struct {
	name string
	// framed: the transport carries SockJS frames (every transport but raw
	// websocket), so the session must first send "o".
	framed bool
	// dial opens a session on the service at base (http://host/prefix).
	dial func(ctx context.Context, base string) (peer, error)
}

// peerTransports is the scenario table's column list: every transport.
var peerTransports = []peerTransport{
	{"websocket", true, dialSockJSWebSocket},
	{"xhr_streaming", true, httpPeerDialer(xhrStreamingRecv, xhrSend)},
	{"xhr", true, httpPeerDialer(xhrPollingRecv, xhrSend)},
	{"eventsource", true, httpPeerDialer(eventSourceRecv, xhrSend)},
	{"htmlfile", true, httpPeerDialer(htmlfileRecv, xhrSend)},
	{"jsonp", true, httpPeerDialer(jsonpRecv, jsonpSend)},
	{"rawwebsocket", false, dialRawWebSocket},
}

var peerSeq atomic.Int64

// peerSessionURL returns base/<server>/<fresh session id>.
func peerSessionURL(base string) string {
	return fmt.Sprintf("%s/%03d/%s", base, peerSeq.Add(1)%1000, newSID())
}

// peerEvents is the queue between a client's receiving goroutine and Next.
type peerEvents struct {
	ch       chan peerEvent
	errc     chan error    // the first failure of the receiving side
	done     chan struct{} // closed by Close: the receiving side must stop
	opened   chan struct{} // closed when "o" arrives
	finished chan struct{} // closed when the receiving goroutine returns
	openOnce sync.Once
}

func newPeerEvents() *peerEvents {
	return &peerEvents{
		ch:       make(chan peerEvent, 256),
		errc:     make(chan error, 1),
		done:     make(chan struct{}),
		opened:   make(chan struct{}),
		finished: make(chan struct{}),
	}
}

func (e *peerEvents) open() { e.openOnce.Do(func() { close(e.opened) }) }

// waitOpen waits for the open frame: the session exists once it came, so
// sending may start.
func (e *peerEvents) waitOpen(d time.Duration) error {
	select {
	case <-e.opened:
		return nil
	case err := <-e.errc:
		e.errc <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("no open frame within %v", d)
	}
}

func (e *peerEvents) Ended(d time.Duration) error {
	select {
	case <-e.finished:
	case <-time.After(d):
		return fmt.Errorf("the transport did not end within %v of the close", d)
	}
	select {
	case err := <-e.errc:
		e.errc <- err
		return err
	default:
		return nil
	}
}

func (e *peerEvents) push(ev peerEvent) bool {
	select {
	case e.ch <- ev:
		return true
	case <-e.done:
		return false
	}
}

func (e *peerEvents) fail(err error) {
	select {
	case e.errc <- err:
	default:
	}
}

func (e *peerEvents) Next(d time.Duration) (peerEvent, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev := <-e.ch:
		return ev, nil
	default:
	}
	select {
	case ev := <-e.ch:
		return ev, nil
	case err := <-e.errc:
		e.errc <- err // keep reporting it
		return peerEvent{}, err
	case <-timer.C:
		return peerEvent{}, fmt.Errorf("no event within %v", d)
	}
}

// peerFramer turns SockJS frames into events and checks their order: "o"
// exactly once and first, then messages and heartbeats, then one close.
type peerFramer struct {
	opened, closed bool
	onOpen         func()
}

// frame handles one frame; it reports the events and whether the frame
// closed the session.
func (f *peerFramer) frame(data string) ([]peerEvent, error) {
	if f.closed {
		return nil, fmt.Errorf("frame %q after the close frame", abbrev(data))
	}
	if !f.opened {
		if data != "o" {
			return nil, fmt.Errorf("first frame %q; want o", abbrev(data))
		}
		f.opened = true
		f.onOpen()
		return nil, nil
	}
	switch {
	case data == "h":
		return nil, nil
	case strings.HasPrefix(data, "a["):
		var msgs []string
		if err := strictUnmarshal(data[1:], &msgs); err != nil {
			return nil, fmt.Errorf("message frame %q: %v", abbrev(data), err)
		}
		evs := make([]peerEvent, len(msgs))
		for i, m := range msgs {
			evs[i] = peerEvent{Msg: m}
		}
		return evs, nil
	case strings.HasPrefix(data, "c["):
		var c []any
		if err := strictUnmarshal(data[1:], &c); err != nil || len(c) != 2 {
			return nil, fmt.Errorf("close frame %q: %v", data, err)
		}
		code, ok1 := c[0].(float64)
		reason, ok2 := c[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("close frame %q", data)
		}
		f.closed = true
		return []peerEvent{{Closed: true, Code: int(code), Reason: reason}}, nil
	}
	return nil, fmt.Errorf("unknown frame %q (opened: %v)", abbrev(data), f.opened)
}

// ---------------------------------------------------------------------------
// WebSocket transports.

type wsPeer struct {
	*peerEvents
	conn  *websocket.Conn
	mu    sync.Mutex // one writer at a time
	raw   bool
	wg    sync.WaitGroup
	close sync.Once
}

func dialWebSocket(ctx context.Context, url string, raw bool) (peer, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(url, "http"), nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (status %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	conn.SetReadLimit(64 << 20)
	p := &wsPeer{peerEvents: newPeerEvents(), conn: conn, raw: raw}
	p.wg.Add(1)
	go p.receive()
	if raw {
		return p, nil // no open frame: the session exists once connected
	}
	if err := p.waitOpen(10 * time.Second); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func dialSockJSWebSocket(ctx context.Context, base string) (peer, error) {
	return dialWebSocket(ctx, peerSessionURL(base)+"/websocket", false)
}

func dialRawWebSocket(ctx context.Context, base string) (peer, error) {
	return dialWebSocket(ctx, base+"/websocket", true)
}

// receive reads messages until the connection ends. A SockJS websocket
// must end with a close frame "c[...]" followed by the WebSocket close; a
// raw one reports the WebSocket close's code and reason as the session's.
func (p *wsPeer) receive() {
	defer p.wg.Done()
	defer close(p.finished)
	fr := peerFramer{onOpen: p.open}
	for {
		typ, data, err := p.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case p.raw && errors.As(err, &ce):
				p.push(peerEvent{Closed: true, Code: ce.Code, Reason: ce.Text})
			case !p.raw && fr.closed && errors.As(err, &ce):
				// the close that must follow the close frame
			default:
				p.fail(fmt.Errorf("websocket read: %w", err))
			}
			return
		}
		if typ != websocket.TextMessage {
			p.fail(fmt.Errorf("websocket message of type %d", typ))
			return
		}
		if p.raw {
			if !p.push(peerEvent{Msg: string(data)}) {
				return
			}
			continue
		}
		evs, err := fr.frame(string(data))
		if err != nil {
			p.fail(err)
			return
		}
		for _, ev := range evs {
			if !p.push(ev) {
				return
			}
		}
	}
}

func (p *wsPeer) Send(msgs ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if !p.raw {
		b, _ := json.Marshal(msgs)
		return p.conn.WriteMessage(websocket.TextMessage, b)
	}
	for _, m := range msgs {
		if err := p.conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			return err
		}
	}
	return nil
}

func (p *wsPeer) Close() {
	p.close.Do(func() {
		close(p.done)
		_ = p.conn.Close()
		p.wg.Wait()
	})
}
