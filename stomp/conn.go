package stomp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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

	mu         sync.Mutex // guards what follows; never held across blocking calls
	closed     bool
	subs       map[string]*subscription // by the client's id
	acks       map[uint64]*subscription // unacknowledged deliveries
	nextMsg    uint64
	beat       *time.Timer // server heart-beats
	alive      *time.Timer // client heart-beat watchdog
	aliveEvery time.Duration

	failOnce sync.Once
}

func (s *Server) serve(ctx context.Context, t transport, req *ConnectRequest) {
	c := &conn{
		srv:  s,
		t:    t,
		req:  req,
		id:   strconv.FormatUint(s.nextID.Add(1), 10),
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
// not acknowledged go to other consumers) and stops its timers.
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
	c.mu.Unlock()
	for _, s := range subs {
		c.srv.broker.unsubscribe(s)
	}
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
		b, err := Encode(&Frame{Command: CmdError, Header: h, Body: []byte(msg)})
		if err == nil {
			_ = c.t.Send(string(b))
		}
		_ = c.t.Close(CloseProtocolError, "STOMP error")
	})
}

// sendFrame queues a server frame.
func (c *conn) sendFrame(f *Frame) {
	b, err := Encode(f)
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

// handle processes one frame and reports whether to go on reading.
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
		err = c.onSend(ctx, f, true)
	case CmdSubscribe:
		err = c.onSubscribe(ctx, f)
	case CmdUnsubscribe:
		err = c.onUnsubscribe(f)
	case CmdAck, CmdNack:
		err = c.onAck(f, true)
	case CmdBegin, CmdCommit, CmdAbort:
		err = c.onTransaction(ctx, f)
	case CmdDisconnect:
		c.receipt(f)
		_ = c.t.Close(CloseNormal, "DISCONNECT")
		return false
	case CmdConnect, CmdStomp:
		err = errors.New("already connected")
	default:
		err = fmt.Errorf("%s is a server frame", f.Command)
	}
	if err != nil {
		c.fail(err.Error(), receipt)
		return false
	}
	c.receipt(f)
	return true
}

// versions the server speaks, best first.
var versions = []string{"1.2", "1.1", "1.0"}

func (c *conn) connect(ctx context.Context, f *Frame) bool {
	receipt := f.Header.Get(HdrReceipt)
	accept := f.Header.Get(HdrAcceptVersion)
	if accept == "" {
		accept = "1.0"
	}
	offered := strings.Split(accept, ",")
	for _, v := range versions {
		for _, o := range offered {
			if strings.TrimSpace(o) == v && c.version == "" {
				c.version = v
			}
		}
	}
	if c.version == "" {
		c.fail("supported protocol versions are 1.2, 1.1 and 1.0", receipt)
		return false
	}
	cx, cy, ok := parseHeartBeat(f.Header.Get(HdrHeartBeat))
	if !ok {
		c.fail("heart-beat must be two numbers of milliseconds, like 10000,10000", receipt)
		return false
	}
	req := *c.req
	req.Frame, req.Login, req.Passcode = f, f.Header.Get(HdrLogin), f.Header.Get(HdrPasscode)
	if auth := c.srv.cfg.Authenticate; auth != nil {
		p, err := auth(ctx, &req)
		if err != nil {
			c.fail(refusalText(err, "authentication failed"), receipt)
			return false
		}
		if strings.Contains(p.Name, "/") {
			c.fail("user names must not contain /", receipt)
			return false
		}
		c.principal = p
	}
	c.connected = true

	sx, sy := ms(c.srv.cfg.HeartbeatSend), ms(c.srv.cfg.HeartbeatReceive)
	h := Header{
		{HdrVersion, c.version},
		{HdrHeartBeat, strconv.Itoa(sx) + "," + strconv.Itoa(sy)},
		{HdrServer, c.srv.cfg.ServerName},
		{HdrSession, c.id},
	}
	if c.principal.Name != "" && !strings.ContainsAny(c.principal.Name, "\r\n") {
		h.Add("user-name", c.principal.Name)
	}
	c.sendFrame(&Frame{Command: CmdConnected, Header: h})
	c.startHeartbeats(negotiate(sx, cy), negotiate(cx, sy))
	return true
}

// ms turns a heart-beat setting into the milliseconds CONNECTED announces.
func ms(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(d.Milliseconds())
}

// negotiate is STOMP's rule: no heart-beats if either side says 0, else
// the larger of the two.
func negotiate(can, want int) time.Duration {
	if can == 0 || want == 0 {
		return 0
	}
	return time.Duration(max(can, want)) * time.Millisecond
}

func parseHeartBeat(v string) (int, int, bool) {
	if v == "" {
		return 0, 0, true
	}
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || x < 0 || y < 0 {
		return 0, 0, false
	}
	return x, y, true
}

// startHeartbeats sends an EOL every out, and closes the connection when
// nothing came from the client for three times in.
func (c *conn) startHeartbeats(out, in time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if out > 0 {
		var beat func()
		beat = func() {
			if c.t.Send("\n") != nil {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if !c.closed {
				c.beat.Reset(out)
			}
		}
		c.beat = time.AfterFunc(out, beat)
	}
	if in > 0 {
		c.alive = time.AfterFunc(3*in, func() {
			c.fail("no heart-beat from the client for "+(3*in).String(), "")
		})
		c.aliveEvery = 3 * in
	}
}

// touch restarts the heart-beat watchdog: any message from the client
// shows it is alive.
func (c *conn) touch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.alive != nil && !c.closed {
		c.alive.Reset(c.aliveEvery)
	}
}

// onSend routes a SEND (now, or at its transaction's COMMIT).
func (c *conn) onSend(ctx context.Context, f *Frame, allowTx bool) error {
	dest := f.Header.Get(HdrDestination)
	if dest == "" {
		return errors.New("SEND without a destination header")
	}
	if tx := f.Header.Get(HdrTransaction); tx != "" && allowTx {
		return c.hold(tx, f)
	}
	if err := c.authorize(ctx, OpSend, dest); err != nil {
		return err
	}
	if strings.HasPrefix(dest, AppPrefix) {
		return c.callApp(ctx, dest, f)
	}
	key, err := publicKey(dest)
	if err != nil {
		return err
	}
	if err := c.srv.broker.send(ctx, key, newMessage(f.Header, f.Body)); err != nil {
		if errors.Is(err, ErrQueueFull) {
			return err
		}
		return fmt.Errorf("could not deliver to %s", dest)
	}
	return nil
}

func (c *conn) authorize(ctx context.Context, op Op, dest string) error {
	if a := c.srv.cfg.Authorize; a != nil {
		if err := a(ctx, c.principal, op, dest); err != nil {
			return errors.New(refusalText(err, string(op)+" to "+dest+" refused"))
		}
	}
	return nil
}

// callApp runs the application handler for an /app destination. A panic is
// logged and reported to the client like an error.
func (c *conn) callApp(ctx context.Context, dest string, f *Frame) (err error) {
	h, vars, ok := c.srv.lookup(dest)
	if !ok {
		return fmt.Errorf("no handler for %s", dest)
	}
	m := &AppMessage{Destination: dest, Vars: vars, Header: f.Header, Body: f.Body, Principal: c.principal, c: c}
	defer func() {
		if r := recover(); r != nil {
			c.srv.cfg.Logger.Error("stomp: application handler panicked", "destination", dest, "panic", r, "stack", string(debug.Stack()))
			err = errors.New("request failed")
		}
	}()
	if err := h(ctx, m); err != nil {
		if !errors.Is(err, ErrRefused) {
			c.srv.cfg.Logger.Error("stomp: application handler failed", "destination", dest, "err", err)
		}
		return errors.New(refusalText(err, "request failed"))
	}
	return nil
}

// subscribeKey maps a SUBSCRIBE destination to a broker key.
func (c *conn) subscribeKey(dest string) (string, error) {
	switch {
	case strings.HasPrefix(dest, TopicPrefix) && len(dest) > len(TopicPrefix),
		strings.HasPrefix(dest, QueuePrefix) && len(dest) > len(QueuePrefix):
		return dest, nil
	case strings.HasPrefix(dest, UserPrefix) && len(dest) > len(UserPrefix):
		if c.principal.Name == "" {
			return "", nil // anonymous: only replies reach it
		}
		return UserPrefix + c.principal.Name + "/" + dest[len(UserPrefix):], nil
	case strings.HasPrefix(dest, AppPrefix):
		return "", fmt.Errorf("cannot subscribe to %s: /app destinations take SENDs", dest)
	}
	return "", fmt.Errorf("%w: %q", ErrDestination, dest)
}

func (c *conn) onSubscribe(ctx context.Context, f *Frame) error {
	id, dest := f.Header.Get(HdrID), f.Header.Get(HdrDestination)
	if id == "" || dest == "" {
		return errors.New("SUBSCRIBE needs id and destination headers")
	}
	mode, ok := parseAck(f.Header.Get(HdrAck))
	if !ok {
		return errors.New("ack must be auto, client or client-individual")
	}
	if err := c.authorize(ctx, OpSubscribe, dest); err != nil {
		return err
	}
	key, err := c.subscribeKey(dest)
	if err != nil {
		return err
	}
	s := &subscription{c: c, id: id, dest: dest, key: key, ack: mode}
	c.mu.Lock()
	_, dup := c.subs[id]
	n := len(c.subs)
	if !dup && n < maxSubscriptions {
		c.subs[id] = s
	}
	c.mu.Unlock()
	switch {
	case dup:
		return fmt.Errorf("subscription id %q is already in use", id)
	case n >= maxSubscriptions:
		return fmt.Errorf("more than %d subscriptions", maxSubscriptions)
	}
	if err := c.srv.broker.subscribe(ctx, s); err != nil {
		return fmt.Errorf("could not subscribe to %s", dest)
	}
	return nil
}

func (c *conn) onUnsubscribe(f *Frame) error {
	id := f.Header.Get(HdrID)
	if id == "" {
		return errors.New("UNSUBSCRIBE needs an id header")
	}
	c.mu.Lock()
	s := c.subs[id]
	delete(c.subs, id)
	if s != nil {
		for _, d := range s.unacked {
			delete(c.acks, d.id)
		}
	}
	c.mu.Unlock()
	if s != nil { // an unknown id is ignored: it may have raced a failure
		c.srv.broker.unsubscribe(s)
	}
	return nil
}

// onAck handles ACK and NACK. STOMP 1.2 names the message by the MESSAGE's
// ack header (id), 1.0 and 1.1 by message-id; this server makes both the
// same. Unknown ids are ignored: a message may have been redelivered
// elsewhere after an UNSUBSCRIBE.
func (c *conn) onAck(f *Frame, allowTx bool) error {
	v := f.Header.Get(HdrID)
	if v == "" {
		v = f.Header.Get(HdrMessageID)
	}
	if v == "" {
		return fmt.Errorf("%s needs an id header", f.Command)
	}
	if tx := f.Header.Get(HdrTransaction); tx != "" && allowTx {
		return c.hold(tx, f)
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil
	}
	c.ack(id, f.Command == CmdNack)
	return nil
}

func (c *conn) onTransaction(ctx context.Context, f *Frame) error {
	tx := f.Header.Get(HdrTransaction)
	if tx == "" {
		return fmt.Errorf("%s needs a transaction header", f.Command)
	}
	frames, open := c.tx[tx]
	switch {
	case f.Command == CmdBegin && open:
		return fmt.Errorf("transaction %q is already open", tx)
	case f.Command == CmdBegin && len(c.tx) >= maxTransactions:
		return fmt.Errorf("more than %d open transactions", maxTransactions)
	case f.Command == CmdBegin:
		c.tx[tx] = nil
		return nil
	case !open:
		return fmt.Errorf("no open transaction %q", tx)
	}
	delete(c.tx, tx)
	if f.Command == CmdAbort {
		return nil
	}
	for _, fr := range frames {
		var err error
		if fr.Command == CmdSend {
			err = c.onSend(ctx, fr, false)
		} else {
			err = c.onAck(fr, false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hold keeps a SEND, ACK or NACK for its transaction's COMMIT.
func (c *conn) hold(tx string, f *Frame) error {
	frames, open := c.tx[tx]
	if !open {
		return fmt.Errorf("no open transaction %q", tx)
	}
	if len(frames) >= maxTxFrames {
		return fmt.Errorf("more than %d frames in transaction %q", maxTxFrames, tx)
	}
	c.tx[tx] = append(frames, f)
	return nil
}
