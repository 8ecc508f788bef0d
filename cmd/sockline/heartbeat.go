package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/client"
)

// The bytes the open and heartbeat frames arrive as, per transport. The
// client swallows heartbeats, so idle mode looks for them in what the
// connections read: websocket text frames of one byte "o" or "h" (server
// frames are not masked), "o" and "h" lines on xhr-streaming and
// xhr-polling, events on eventsource. Heartbeats are looked for after the
// open frame only: the xhr-streaming prelude (2048 "h" and a newline)
// comes before it and is none.
var (
	wsMarkers  = markers{open: []byte("\x81\x01o"), heartbeat: []byte("\x81\x01h")}
	xhrMarkers = markers{open: []byte("o\n"), heartbeat: []byte("h\n")}
	esMarkers  = markers{open: []byte("data: o\r\n"), heartbeat: []byte("data: h\r\n")}
)

// closeMarker starts a close frame on every transport ("c[3000,..."):
// idle sessions get no messages that could hold it.
var closeMarker = []byte("c[")

// markers are a transport's open and heartbeat frames.
type markers struct{ open, heartbeat []byte }

// heartbeatWatch checks that every held session gets its heartbeats on
// time: a gap between two heartbeats of a session (or between its open
// frame and its first one, or its last one and the end of the hold) longer
// than delay+slack counts as a late heartbeat. Only sessions held to the
// end count: a session that never opened (its open frame never came, or
// the client gave up on it), that the server closed (a close frame) or
// whose connection the client closed is left out, as idle mode reports
// those as failed to open or dropped. Its methods take the time from the
// caller, so that the rule is tested without a clock.
type heartbeatWatch struct {
	limit time.Duration // delay + slack

	mu     sync.Mutex
	ended  bool                // finish was called: arrivals no longer count
	bySess map[string]*hbTrack // HTTP transports, by session id
	tracks []*hbTrack
}

// hbTrack is one session's heartbeats.
type hbTrack struct {
	m        markers
	opened   bool            // the open frame came
	ended    bool            // the server sent a close frame
	gaveUp   bool            // the client closed a connection before its end, and made no new request since
	last     time.Time       // when the open frame or the last heartbeat came
	frames   uint64          // heartbeats
	late     uint64          // gaps past the limit
	gaps     []time.Duration // every gap, the one at the end included
	tail     []byte          // the end of the last read: a marker may straddle reads
	maxWidth int
}

// heartbeatStats are a watch's figures, over the sessions held to the end.
type heartbeatStats struct {
	Sessions     int     // sessions held to the end, watched
	Left         int     // sessions left out: never opened, or closed
	Frames       uint64  // heartbeats seen
	Late         uint64  // gaps longer than delay+slack, the one at the end included
	LateSessions int     // sessions with a late heartbeat
	MaxGapMs     float64 // the longest gap
	P50GapMs     float64 // gap percentiles
	P99GapMs     float64
	P999GapMs    float64
}

func newHeartbeatWatch(delay, slack time.Duration) *heartbeatWatch {
	return &heartbeatWatch{limit: delay + slack, bySess: map[string]*hbTrack{}}
}

// track starts watching a connection, or returns the session's track
// when key (an HTTP transport's session id) is already watched: each poll
// of xhr-polling, each new stream of a session, reads into the same one
// (and a new request shows that the client has not given up on it).
func (w *heartbeatWatch) track(key string, m markers) *hbTrack {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.bySess[key]; ok && key != "" {
		t.gaveUp = false
		return t
	}
	t := &hbTrack{m: m, maxWidth: max(len(m.open), len(m.heartbeat), len(closeMarker))}
	if key != "" {
		w.bySess[key] = t
	}
	w.tracks = append(w.tracks, t)
	return t
}

// read is what a connection of t read at now: the open frame starts the
// clock; every heartbeat found after it is one arrival (several in one
// read arrive together).
func (w *heartbeatWatch) read(t *hbTrack, p []byte, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	buf := append(t.tail, p...)
	consumed := false // a marker found must not be found again in the tail
	if !t.opened {
		i := bytes.Index(buf, t.m.open)
		if i < 0 {
			w.keepTail(t, buf, false)
			return
		}
		t.opened, t.last, consumed = true, now, true
		buf = buf[i+len(t.m.open):]
	}
	if bytes.Contains(buf, closeMarker) {
		t.ended = true
	}
	if bytes.Contains(buf, t.m.heartbeat) {
		consumed = true
		t.frames++
		t.gap(now, w.limit)
	}
	w.keepTail(t, buf, consumed)
}

// keepTail keeps what may be the start of a marker cut by the read's end.
func (w *heartbeatWatch) keepTail(t *hbTrack, buf []byte, consumed bool) {
	keep := min(len(buf), t.maxWidth-1)
	if consumed {
		keep = 0
	}
	t.tail = append(t.tail[:0], buf[len(buf)-keep:]...)
}

// clientClosed notes that the client closed a connection of t before its
// end: it gave up on the session (or let it go).
func (w *heartbeatWatch) clientClosed(t *hbTrack) {
	w.mu.Lock()
	t.gaveUp = true
	w.mu.Unlock()
}

// gap counts the time since t's last heartbeat (or its open), up to now.
func (t *hbTrack) gap(now time.Time, limit time.Duration) {
	g := now.Sub(t.last)
	t.last = now
	t.gaps = append(t.gaps, g)
	if g > limit {
		t.late++
	}
}

// finish ends the watch at now (the end of the hold, before the sessions
// are closed): a session whose last heartbeat is older than the limit
// missed one. It returns the figures over the sessions held to the end.
func (w *heartbeatWatch) finish(now time.Time) heartbeatStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var st heartbeatStats
	var gaps []time.Duration
	for _, t := range w.tracks {
		if !t.opened || t.ended || t.gaveUp {
			st.Left++
			continue
		}
		if !w.ended {
			t.gap(now, w.limit)
		}
		st.Sessions++
		st.Frames += t.frames
		st.Late += t.late
		if t.late > 0 {
			st.LateSessions++
		}
		gaps = append(gaps, t.gaps...)
	}
	w.ended = true
	st.P50GapMs, st.P99GapMs, st.P999GapMs, st.MaxGapMs = quantiles(gaps)
	return st
}

// receivingSession returns the session id and heartbeat marker of a
// receiving request of an HTTP transport (.../server/session/xhr_streaming,
// /eventsource or /xhr), or ok false for any other request.
func receivingSession(path string) (key string, m markers, ok bool) {
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(parts) < 3 {
		return "", markers{}, false
	}
	switch parts[len(parts)-1] {
	case "xhr_streaming", "xhr":
		m = xhrMarkers
	case "eventsource":
		m = esMarkers
	default:
		return "", markers{}, false
	}
	return parts[len(parts)-3] + "/" + parts[len(parts)-2], m, true
}

// watchedTransport is the bench's HTTP RoundTripper when heartbeats are
// watched: it feeds what receiving requests read to the watch.
type watchedTransport struct {
	next  *http.Transport
	watch *heartbeatWatch
}

// Unwrap lets the client find the *http.Transport under it.
func (t *watchedTransport) Unwrap() http.RoundTripper { return t.next }

// RoundTrip implements http.RoundTripper.
func (t *watchedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, m, ok := receivingSession(req.URL.Path)
	if !ok {
		return t.next.RoundTrip(req)
	}
	tr := t.watch.track(key, m)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, watch: t.watch, t: tr}
	return resp, nil
}

// watchedBody is a receiving response's body under watch.
type watchedBody struct {
	io.ReadCloser
	watch *heartbeatWatch
	t     *hbTrack
	eof   bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.watch.read(b.t, p[:n], time.Now())
	}
	b.eof = b.eof || err == io.EOF
	return n, err
}

// Close notes a body closed before its end: the client gave up on the
// request (an open that took too long, the session closed).
func (b *watchedBody) Close() error {
	if !b.eof {
		b.watch.clientClosed(b.t)
	}
	return b.ReadCloser.Close()
}

// watchedConn is a websocket's connection under watch.
type watchedConn struct {
	net.Conn
	watch *heartbeatWatch
	t     *hbTrack
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.watch.read(c.t, p[:n], time.Now())
	}
	return n, err
}

// Close notes that the client let the websocket go.
func (c *watchedConn) Close() error {
	c.watch.clientClosed(c.t)
	return c.Conn.Close()
}

// benchClient returns the HTTP client and dial options of a bench run:
// connections from cfg.source when set (a loopback address of its own
// gives a bench process its own ephemeral ports), and, with watch, every
// receiving connection read into it.
func benchClient(cfg benchConfig, idle int, watch *heartbeatWatch) (*http.Client, *client.Options, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if cfg.source != "" {
		ip := net.ParseIP(cfg.source)
		if ip == nil {
			return nil, nil, fmt.Errorf("-source %q: not an IP address", cfg.source)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	ht := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: idle, ForceAttemptHTTP2: false}
	opts := &client.Options{Transports: []string{cfg.transport}, Header: cfg.header, OpenTimeout: cfg.openTime}
	if watch == nil {
		opts.HTTPClient = &http.Client{Transport: ht}
		return opts.HTTPClient, opts, nil
	}
	opts.HTTPClient = &http.Client{Transport: &watchedTransport{next: ht, watch: watch}}
	opts.Dialer = &websocket.Dialer{
		Proxy:            ht.Proxy,
		HandshakeTimeout: 45 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &watchedConn{Conn: c, watch: watch, t: watch.track("", wsMarkers)}, nil
		},
	}
	return opts.HTTPClient, opts, nil
}
