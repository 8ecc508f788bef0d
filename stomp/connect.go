package stomp

import (
	"context"
	"strconv"
	"strings"
	"time"
)

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
	c.srv.event(Event{Type: EventConnect, Session: c.id, Principal: c.principal, Frame: f})
	if r := c.srv.cfg.Relay; r != nil {
		rs, err := r.Open(ctx, req.Login, req.Passcode, c.fromRelay, c.relayClosed)
		if err != nil {
			c.srv.cfg.Logger.Error("stomp: broker relay connection failed", "session", c.id, "err", err)
			c.fail("the message broker is not available; try again later", receipt)
			return false
		}
		c.relay = rs
	}
	c.connected = true
	c.dec.Version = c.version

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
	c.srv.users.add(c)
	c.sendFrame(&Frame{Command: CmdConnected, Header: h})
	c.startHeartbeats(negotiate(sx, cy), negotiate(cx, sy))
	c.srv.event(Event{Type: EventConnected, Session: c.id, Principal: c.principal})
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
