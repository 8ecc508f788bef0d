package stomp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Close codes the server ends a connection with.
const (
	// CloseNormal follows a DISCONNECT.
	CloseNormal = 1000
	// CloseProtocolError follows an ERROR frame, whose message header says
	// why.
	CloseProtocolError = 4000
)

// Per-connection bounds that need no tuning.
const (
	maxSubscriptions = 1024 // SUBSCRIBEs open at once
	maxTransactions  = 16   // BEGINs open at once
	maxTxFrames      = 1024 // SEND/ACK/NACK frames held by one transaction
)

// transport is what a connection runs on: *sockjs.Session, or the plain
// websocket. Send must be safe for concurrent use, keep order and never
// block on the network; Close sends what is queued, then closes.
type transport interface {
	Recv(ctx context.Context) (string, error)
	Send(msg string) error
	Close(code int, reason string) error
}

// conn is one STOMP connection. Its frames are read and handled on the
// goroutine that runs serve; the broker delivers to it from others.
type conn struct {
	srv *Server
	t   transport
	req *ConnectRequest
	id  string
	dec Decoder

	connected bool // only on the reading goroutine
	version   string
	principal Principal
	tx        map[string][]*Frame // open transactions, reading goroutine only
	relay     RelaySession        // set when Config.Relay is; reading goroutine only
	// relayReceipts are the relayed SUBSCRIBEs waiting for the broker's
	// RECEIPT, by receipt id; under mu.
	relayReceipts map[string]relayReceipt

	mu         sync.Mutex // guards what follows; never held across blocking calls
	closed     bool
	subs       map[string]*subscription // by the client's id
	acks       map[uint64]*subscription // unacknowledged deliveries
	nextMsg    uint64
	beat       *time.Timer // server heart-beats
	alive      *time.Timer // client heart-beat watchdog
	aliveEvery time.Duration

	failOnce sync.Once
	endCode  int // close code when the server ended it; guarded by mu
}

func (s *Server) serve(ctx context.Context, t transport, req *ConnectRequest) {
	c := &conn{
		srv:  s,
		t:    t,
		req:  req,
		id:   s.idStart + strconv.FormatUint(s.nextID.Add(1), 10),
		dec:  Decoder{MaxFrameBytes: s.cfg.MaxFrameBytes, MaxHeaders: s.cfg.MaxHeaders},
		subs: make(map[string]*subscription),
		acks: make(map[uint64]*subscription),
		tx:   make(map[string][]*Frame),
	}
	defer c.teardown()
	connectCtx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	for {
		rctx := ctx
		if !c.connected {
			rctx = connectCtx
		}
		msg, err := t.Recv(rctx)
		if err != nil {
			if !c.connected && ctx.Err() == nil && connectCtx.Err() != nil {
				c.fail("no CONNECT frame within "+s.cfg.ConnectTimeout.String(), "")
			}
			return
		}
		c.touch()
		c.dec.Feed([]byte(msg))
		for {
			f, err := c.dec.Next()
			if err != nil {
				c.fail(err.Error(), "")
				return
			}
			if f == nil {
				break
			}
			if !c.handle(ctx, f) {
				return
			}
		}
	}
}

// teardown removes the connection's subscriptions (queue messages it had
// not acknowledged go to other consumers), stops its timers and tells the
// hooks.
func (c *conn) teardown() {
	c.mu.Lock()
	c.closed = true
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.subs = nil
	if c.beat != nil {
		c.beat.Stop()
	}
	if c.alive != nil {
		c.alive.Stop()
	}
	code := c.endCode
	c.mu.Unlock()
	for _, s := range subs {
		c.srv.broker.unsubscribe(s)
		if c.srv.presence != nil {
			c.srv.presence.leave(s)
		}
	}
	if c.relay != nil {
		_ = c.relay.Close()
	}
	if c.connected {
		c.srv.users.remove(c)
		c.srv.event(Event{Type: EventDisconnect, Session: c.id, Principal: c.principal, CloseCode: code})
	}
}

// end closes the transport with code, remembering the code for the
// disconnect event.
func (c *conn) end(code int, reason string) {
	c.mu.Lock()
	if c.endCode == 0 {
		c.endCode = code
	}
	c.mu.Unlock()
	_ = c.t.Close(code, reason)
}

// fail sends an ERROR frame and closes the connection; STOMP has no way to
// go on after one. Safe from any goroutine; only the first call counts.
func (c *conn) fail(msg, receipt string) {
	c.failOnce.Do(func() {
		msg = strings.TrimPrefix(msg, "stomp: ") // the package's error prefix means nothing to a client
		h := Header{{HdrMessage, msg}, {HdrContentType, "text/plain"}}
		if receipt != "" {
			h.Add(HdrReceiptID, receipt)
		}
		if c.version == "" && !c.connected {
			h.Add(HdrVersion, "1.2,1.1,1.0")
		}
		b, err := AppendVersion(nil, &Frame{Command: CmdError, Header: h, Body: []byte(msg)}, c.version)
		if err == nil {
			_ = c.t.Send(string(b))
		}
		c.end(CloseProtocolError, "STOMP error")
	})
}

// sendFrame queues a server frame.
func (c *conn) sendFrame(f *Frame) {
	b, err := AppendVersion(nil, f, c.version)
	if err != nil {
		c.fail("internal error", "")
		return
	}
	_ = c.t.Send(string(b)) // a closed transport ends the read loop
}

// receipt answers a frame's receipt header, if it has one.
func (c *conn) receipt(f *Frame) {
	if r, ok := f.Header.Lookup(HdrReceipt); ok {
		c.sendFrame(&Frame{Command: CmdReceipt, Header: Header{{HdrReceiptID, r}}})
	}
}

// errForwarded: the frame went to the broker relay, which answers its
// receipt.
var errForwarded = errors.New("stomp: forwarded to the broker relay")

// handle processes one frame and reports whether to go on reading. A
// protocol error ends the connection with ERROR; an application error
// (see AppError) goes to Config.OnError, the frame gets no RECEIPT, and the
// connection goes on.
func (c *conn) handle(ctx context.Context, f *Frame) bool {
	receipt := f.Header.Get(HdrReceipt)
	if !c.connected {
		if f.Command != CmdConnect && f.Command != CmdStomp {
			c.fail("the first frame must be CONNECT, not "+f.Command, receipt)
			return false
		}
		return c.connect(ctx, f)
	}
	var err error
	switch f.Command {
	case CmdSend:
		err = c.onSend(ctx, f)
	case CmdSubscribe:
		err = c.onSubscribe(ctx, f)
	case CmdUnsubscribe:
		err = c.onUnsubscribe(ctx, f)
	case CmdAck, CmdNack:
		err = c.onAck(ctx, f)
	case CmdBegin, CmdCommit, CmdAbort:
		err = c.onTransaction(ctx, f)
	case CmdDisconnect:
		c.receipt(f)
		c.end(CloseNormal, "DISCONNECT")
		return false
	case CmdConnect, CmdStomp:
		err = errors.New("already connected")
	default:
		err = fmt.Errorf("%s is a server frame", f.Command)
	}
	if ctx.Err() != nil {
		return false // the connection is going: nobody to answer
	}
	var ae *AppError
	switch {
	case err == nil:
		c.receipt(f)
	case err == errForwarded, err == errWithheld: // the broker answers its receipt, or none is due
	case errors.As(err, &ae):
		c.appFailed(ctx, ae)
	default:
		c.fail(err.Error(), receipt)
		return false
	}
	return true
}
