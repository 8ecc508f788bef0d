package sockjs

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/internal/tunnel"
)

// Direct connections (Cluster.DirectListener): the tunnel's messages
// between two nodes go over one TCP connection between them instead of
// the bus, which halves what carrying a request costs (no round trip to
// Redis per message, no Redis in the path). The bus stays the fallback and
// the way nodes find each other: a node that takes direct connections puts
// its address on what it sends over the bus, and a node that hears of it
// dials, so the first exchange between two nodes goes over the bus and
// the following ones go direct.
//
// An exchange runs on one path from its Open to its end (the connection
// it started on, or the bus), so that no message of it overtakes another
// by taking another path. A connection that fails hands what it had not
// written to the bus, in order; its exchanges go on over the bus. Every
// message is authenticated with the cluster's Secret as on the bus; a
// connection starts with a Hello each way, naming the incarnation the
// dialer wants and the one that answers, so a node restarted at the same
// address is never taken for the old one.

// Limits of the direct connections.
const (
	// maxDirectFrame bounds a message on a direct connection (a chunk of a
	// response, a carried send's body).
	maxDirectFrame = 64 << 20
	// maxHelloFrame bounds the first message of a connection, read before
	// the peer has shown that it has the Secret.
	maxHelloFrame = 4 << 10
	// directQueue is how many messages may wait for a connection's writer;
	// a peer that lets it fill reads nothing, and its connection is given
	// up for the bus.
	directQueue = 4096
	// helloTimeout bounds the dial and the Hellos.
	helloTimeout = 5 * time.Second
	// maxPendingHellos bounds the accepted connections waiting for their
	// Hello.
	maxPendingHellos = 64
	// redialAfter is how long a node waits before it dials a peer again
	// after a failed dial.
	redialAfter = 5 * time.Second
	// maxFailedPeers is how many failed peers are remembered before the
	// ones past redialAfter are forgotten.
	maxFailedPeers = 64
)

// direct is a node's direct connections to the other nodes.
type direct struct {
	c    *clusterNode
	ln   net.Listener
	addr string // the address other nodes dial

	sent atomic.Uint64 // messages handed to a direct connection

	mu       sync.Mutex
	peers    map[string]*peerConn   // a live connection per peer incarnation
	conns    map[*peerConn]struct{} // every connection, to close them
	dialing  map[string]bool        // dials under way, by peer
	failedAt map[string]time.Time   // the last failed dial, by peer (pruned: see dial)
	pins     map[string]*peerConn   // exchange id -> the connection it runs on
	pending  map[net.Conn]struct{}  // accepted connections still in their Hello
	closed   bool
	wg       sync.WaitGroup
}

// listenersInUse are the DirectListeners of the handlers of this process:
// two handlers on one listener would take each other's connections.
var listenersInUse sync.Map // net.Listener -> struct{}

// newDirect takes direct connections on ln; advertise is the address to
// give other nodes ("" means ln's own, which must then name a host).
func newDirect(c *clusterNode, ln net.Listener, advertise string) (*direct, error) {
	if !keyableListener(ln) {
		return nil, fmt.Errorf("%w: Cluster.DirectListener of type %T cannot be compared; wrap it in a pointer", ErrInvalidOptions, ln)
	}
	if _, used := listenersInUse.LoadOrStore(ln, struct{}{}); used {
		return nil, fmt.Errorf("%w: Cluster.DirectListener %s is another handler's: give each handler its own (net.Listen on another port)", ErrInvalidOptions, ln.Addr())
	}
	if advertise == "" {
		tcp, ok := ln.Addr().(*net.TCPAddr)
		if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
			listenersInUse.Delete(ln)
			return nil, fmt.Errorf("%w: Cluster.DirectListener listens on %s, which other nodes cannot dial: give Cluster.DirectAddr, the host:port at which they reach this node", ErrInvalidOptions, ln.Addr())
		}
		advertise = tcp.String()
	}
	if _, _, err := net.SplitHostPort(advertise); err != nil || len(advertise) > tunnel.MaxIDBytes {
		listenersInUse.Delete(ln)
		return nil, fmt.Errorf("%w: Cluster.DirectAddr %q: want host:port", ErrInvalidOptions, advertise)
	}
	return &direct{
		c: c, ln: ln, addr: advertise,
		peers: make(map[string]*peerConn), conns: make(map[*peerConn]struct{}),
		dialing: make(map[string]bool), failedAt: make(map[string]time.Time),
		pins: make(map[string]*peerConn), pending: make(map[net.Conn]struct{}),
	}, nil
}

func (d *direct) start() {
	d.wg.Add(1)
	go d.acceptLoop()
}

// close closes the listener and every connection and waits for their
// goroutines.
func (d *direct) close() {
	d.mu.Lock()
	d.closed = true
	conns := make([]*peerConn, 0, len(d.conns))
	for pc := range d.conns {
		conns = append(conns, pc)
	}
	for conn := range d.pending {
		_ = conn.Close()
	}
	d.mu.Unlock()
	_ = d.ln.Close()
	for _, pc := range conns {
		pc.close()
	}
	d.wg.Wait()
	listenersInUse.Delete(d.ln)
}

// keyableListener reports whether ln can be a map key.
func keyableListener(ln net.Listener) bool { return reflect.TypeOf(ln).Comparable() }

func (d *direct) acceptLoop() {
	defer d.wg.Done()
	for {
		conn, err := d.ln.Accept()
		if err != nil {
			d.mu.Lock()
			closed := d.closed
			d.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			d.c.h.opts.Logger.Warn("sockline cluster: accepting a direct connection failed", "node", d.c.node, "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-d.c.done:
				return
			}
			continue
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			_ = conn.Close()
			return
		}
		if len(d.pending) >= maxPendingHellos {
			// Connections that do not say Hello hold a goroutine each for
			// up to helloTimeout: a flood of them is refused, not served.
			d.mu.Unlock()
			_ = conn.Close()
			continue
		}
		d.pending[conn] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.accept(conn)
	}
}

// accept checks a new connection's Hello and answers it.
func (d *direct) accept(conn net.Conn) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		delete(d.pending, conn)
		d.mu.Unlock()
	}()
	_ = conn.SetDeadline(time.Now().Add(helloTimeout))
	br := bufio.NewReader(conn)
	m, err := d.readHello(br)
	switch {
	case err != nil:
	case string(m.Body) != d.c.node:
		err = fmt.Errorf("it wants %q, this node is %q (a restarted node at the same address)", m.Body, d.c.node)
	case m.Session != d.c.cfg.Service:
		err = fmt.Errorf("it wants service %q, this listener is service %q's (give each handler its own DirectListener)", m.Session, d.c.cfg.Service)
	}
	if err == nil {
		err = writeFrame(conn, d.c.codec.Encode(&tunnel.Msg{Kind: tunnel.KindHello, ID: tunnel.HelloID, From: d.c.node, Addr: d.addr}))
	}
	if err != nil {
		d.c.h.opts.Logger.Debug("sockline cluster: refused a direct connection", "node", d.c.node, "remote", conn.RemoteAddr(), "err", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	d.run(m.From, conn, br)
}

// readHello reads and checks a connection's first message.
func (d *direct) readHello(br *bufio.Reader) (*tunnel.Msg, error) {
	p, err := readFrame(br, maxHelloFrame)
	if err != nil {
		return nil, err
	}
	m, err := d.c.codec.Decode(p)
	if err != nil {
		d.c.countBad(err)
		return nil, err
	}
	if m.Kind != tunnel.KindHello {
		return nil, fmt.Errorf("the first message is a %s, not a hello", m.Kind)
	}
	return m, nil
}

// learn notes that node takes direct connections at addr, and dials it if
// there is no connection to it yet.
func (d *direct) learn(node, addr string) {
	if addr == "" || node == d.c.node {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.peers[node] != nil || d.dialing[node] || time.Since(d.failedAt[node]) < redialAfter {
		return
	}
	d.dialing[node] = true
	d.wg.Add(1)
	go d.dial(node, addr)
}

// dial connects to node at addr.
func (d *direct) dial(node, addr string) {
	defer d.wg.Done()
	conn, br, err := d.handshake(node, addr)
	d.mu.Lock()
	delete(d.dialing, node)
	if err != nil {
		// Every restart of a peer is a new incarnation, so failures of
		// incarnations long gone would pile up: forget those past their
		// redial delay, which is all the entry is for.
		if len(d.failedAt) >= maxFailedPeers {
			for peer, at := range d.failedAt {
				if time.Since(at) >= redialAfter {
					delete(d.failedAt, peer)
				}
			}
		}
		d.failedAt[node] = time.Now()
	}
	d.mu.Unlock()
	if err != nil {
		d.c.h.opts.Logger.Debug("sockline cluster: a direct connection failed; messages to that node keep going over the bus", "node", d.c.node, "peer", node, "addr", addr, "err", err)
		return
	}
	d.run(node, conn, br)
}

// handshake dials addr and exchanges Hellos with node.
func (d *direct) handshake(node, addr string) (net.Conn, *bufio.Reader, error) {
	ctx, cancel := context.WithTimeout(context.Background(), helloTimeout)
	defer cancel()
	go func() { // a node that stops does not wait out a dial
		select {
		case <-d.c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(helloTimeout))
	err = writeFrame(conn, d.c.codec.Encode(&tunnel.Msg{Kind: tunnel.KindHello, ID: tunnel.HelloID, From: d.c.node, Body: []byte(node), Session: d.c.cfg.Service, Addr: d.addr}))
	br := bufio.NewReader(conn)
	var m *tunnel.Msg
	if err == nil {
		m, err = d.readHello(br)
	}
	if err == nil && m.From != node {
		err = fmt.Errorf("%s is %q now, not %q", addr, m.From, node)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, nil
}

// run registers a connection to node whose Hellos are done and starts its
// reader and writer.
func (d *direct) run(node string, conn net.Conn, br *bufio.Reader) {
	pc := &peerConn{d: d, node: node, conn: conn, out: make(chan directFrame, directQueue), done: make(chan struct{})}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		_ = conn.Close()
		return
	}
	d.peers[node] = pc
	d.conns[pc] = struct{}{}
	d.wg.Add(2)
	d.mu.Unlock()
	go pc.writeLoop()
	go pc.readLoop(br)
}

// pin makes exchange id run on the live connection to node, if there is
// one, and reports whether there is.
func (d *direct) pin(id, node string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	pc := d.peers[node]
	if pc != nil {
		d.pins[id] = pc
	}
	return pc != nil
}

// pinTo makes exchange id run on pc (an Open came over it).
func (d *direct) pinTo(id string, pc *peerConn) {
	d.mu.Lock()
	d.pins[id] = pc
	d.mu.Unlock()
}

func (d *direct) unpin(id string) {
	d.mu.Lock()
	delete(d.pins, id)
	d.mu.Unlock()
}

// send hands m (encoded as p) to the connection its exchange runs on, if
// it runs on one to node, and reports whether it did.
func (d *direct) send(node string, m *tunnel.Msg) bool {
	d.mu.Lock()
	pc := d.pins[m.ID]
	d.mu.Unlock()
	if pc == nil || pc.node != node {
		return false
	}
	if !pc.send(directFrame{m: m, p: d.c.codec.Encode(m)}) {
		return false
	}
	d.sent.Add(1)
	return true
}

// directFrame is a message waiting for a connection's writer: its wire
// form, and the message itself to send over the bus should the
// connection fail first.
type directFrame struct {
	m *tunnel.Msg
	p []byte
}

// peerConn is one direct connection to another node. Its writer
// goroutine owns the writes; its reader goroutine dispatches what comes.
type peerConn struct {
	d    *direct
	node string // the peer's incarnation
	conn net.Conn
	out  chan directFrame
	done chan struct{}

	mu     sync.Mutex
	closed bool
}

// send queues f, and reports false when the connection is closed or so
// far behind that it is given up (the caller then uses the bus).
func (pc *peerConn) send(f directFrame) bool {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return false
	}
	select {
	case pc.out <- f:
		pc.mu.Unlock()
		return true
	default:
	}
	pc.mu.Unlock()
	pc.d.c.h.opts.Logger.Warn("sockline cluster: a direct connection fell too far behind; its messages go over the bus", "node", pc.d.c.node, "peer", pc.node)
	pc.close()
	return false
}

// close closes the connection once; its writer hands what it had not
// written to the bus.
func (pc *peerConn) close() {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return
	}
	pc.closed = true
	pc.mu.Unlock()
	close(pc.done)
	_ = pc.conn.Close()
	d := pc.d
	d.mu.Lock()
	if d.peers[pc.node] == pc {
		delete(d.peers, pc.node)
	}
	delete(d.conns, pc)
	d.mu.Unlock()
}

func (pc *peerConn) writeLoop() {
	defer pc.d.wg.Done()
	bw := bufio.NewWriterSize(pc.conn, 64<<10)
	var unsent []directFrame // written to bw, not flushed yet
	var hdr [4]byte
	for {
		var f directFrame
		select {
		case f = <-pc.out:
		case <-pc.done:
			pc.failed(unsent)
			return
		}
		for {
			binary.BigEndian.PutUint32(hdr[:], uint32(len(f.p)))
			_, _ = bw.Write(hdr[:])
			_, _ = bw.Write(f.p) // an error sticks: Flush reports it
			unsent = append(unsent, f)
			if len(unsent) >= 64 {
				break
			}
			select {
			case f = <-pc.out:
				continue
			default:
			}
			break
		}
		_ = pc.conn.SetWriteDeadline(time.Now().Add(pc.d.c.cfg.ForwardTimeout))
		if err := bw.Flush(); err != nil {
			pc.d.c.h.opts.Logger.Debug("sockline cluster: a direct connection failed; its messages go over the bus", "node", pc.d.c.node, "peer", pc.node, "err", err)
			pc.close()
			pc.failed(unsent)
			return
		}
		unsent = unsent[:0]
	}
}

// failed hands the messages the connection did not write, and those still
// queued, to the bus, in order. A message that went out after all reaches
// the peer twice, which it ignores.
func (pc *peerConn) failed(unsent []directFrame) {
	for {
		select {
		case f := <-pc.out:
			unsent = append(unsent, f)
			continue
		default:
		}
		break
	}
	if len(unsent) == 0 {
		return
	}
	c := pc.d.c
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		for _, f := range unsent {
			// An Open counts as another attempt, so that the owner takes it
			// for a duplicate if the first came through after all.
			_ = c.deliverWithin(pc.node, f.m)
		}
	}()
}

func (pc *peerConn) readLoop(br *bufio.Reader) {
	defer pc.d.wg.Done()
	defer pc.close()
	for {
		p, err := readFrame(br, maxDirectFrame)
		if err != nil {
			return
		}
		if !pc.d.c.onDirectMessage(pc, p) {
			return
		}
	}
}

// writeFrame writes one length-prefixed message.
func writeFrame(w io.Writer, p []byte) error {
	buf := make([]byte, 4+len(p))
	binary.BigEndian.PutUint32(buf, uint32(len(p)))
	copy(buf[4:], p)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one length-prefixed message of at most limit bytes.
func readFrame(br *bufio.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > uint32(limit) {
		return nil, fmt.Errorf("a message of %d bytes (limit %d)", n, limit)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return nil, err
	}
	return p, nil
}
