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

// The bytes a heartbeat frame arrives as, per transport. The client
// swallows heartbeats, so idle mode looks for them in what the
// connections read: a websocket text frame of one byte "h" (server frames
// are not masked), an "h" line on xhr-streaming and xhr-polling, an "h"
// event on eventsource. The xhr-streaming prelude (2048 "h" and a newline)
// counts as one, at the open.
var (
	wsHeartbeat  = []byte("\x81\x01h")
	xhrHeartbeat = []byte("h\n")
	esHeartbeat  = []byte("data: h\r\n")
)

// heartbeatWatch checks that every held session gets its heartbeats on
// time: a gap between two heartbeats of a session (or between its start
// and its first one, or its last one and the end of the hold) longer than
// delay+slack counts as a late heartbeat. Its methods take the time from
// the caller, so that the rule is tested without a clock.
type heartbeatWatch struct {
	limit time.Duration // delay + slack

	mu      sync.Mutex
	ended   bool                // finish was called: arrivals no longer count
	bySess  map[string]*hbTrack // HTTP transports, by session id
	tracks  []*hbTrack
	frames  uint64
	late    uint64
	maxGap  time.Duration
	lateSes map[*hbTrack]bool // sessions with at least one late heartbeat
}

// hbTrack is one session's heartbeats.
type hbTrack struct {
	marker []byte
	last   time.Time // when the session started or last got a heartbeat
	tail   []byte    // the end of the last read: a marker may straddle reads
}

// heartbeatStats are a watch's figures.
type heartbeatStats struct {
	Sessions     int     // sessions watched
	Frames       uint64  // heartbeats seen
	Late         uint64  // gaps longer than delay+slack, the one at the end included
	LateSessions int     // sessions with a late heartbeat
	MaxGapMs     float64 // the longest gap
}

func newHeartbeatWatch(delay, slack time.Duration) *heartbeatWatch {
	return &heartbeatWatch{limit: delay + slack, bySess: map[string]*hbTrack{}, lateSes: map[*hbTrack]bool{}}
}

// track starts watching a session from now, or returns the session's track
// when key (an HTTP transport's session id) is already watched: each poll
// of xhr-polling, each new stream of a session, reads into the same one.
func (w *heartbeatWatch) track(key string, marker []byte, now time.Time) *hbTrack {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.bySess[key]; ok && key != "" {
		return t
	}
	t := &hbTrack{marker: marker, last: now}
	if key != "" {
		w.bySess[key] = t
	}
	w.tracks = append(w.tracks, t)
	return t
}

// read is what a connection of t read at now: every heartbeat found in it
// is one arrival (several in one read arrive together).
func (w *heartbeatWatch) read(t *hbTrack, p []byte, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(t.tail, p...)
	found := bytes.Contains(buf, t.marker)
	keep := min(len(buf), len(t.marker)-1)
	if found {
		keep = 0 // the marker found must not be found again
	}
	t.tail = append(t.tail[:0], buf[len(buf)-keep:]...)
	if !found || w.ended {
		return
	}
	w.frames++
	w.gap(t, now)
}

// gap counts the time since t's last heartbeat, up to now.
func (w *heartbeatWatch) gap(t *hbTrack, now time.Time) {
	g := now.Sub(t.last)
	t.last = now
	w.maxGap = max(w.maxGap, g)
	if g > w.limit {
		w.late++
		w.lateSes[t] = true
	}
}

// finish ends the watch at now (the end of the hold, before the sessions
// are closed): a session whose last heartbeat is older than the limit
// missed one. It returns the figures.
func (w *heartbeatWatch) finish(now time.Time) heartbeatStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.ended = true
		for _, t := range w.tracks {
			w.gap(t, now)
		}
	}
	return heartbeatStats{Sessions: len(w.tracks), Frames: w.frames, Late: w.late,
		LateSessions: len(w.lateSes), MaxGapMs: float64(w.maxGap) / float64(time.Millisecond)}
}

// receivingSession returns the session id and heartbeat marker of a
// receiving request of an HTTP transport (.../server/session/xhr_streaming,
// /eventsource or /xhr), or ok false for any other request.
func receivingSession(path string) (key string, marker []byte, ok bool) {
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(parts) < 3 {
		return "", nil, false
	}
	switch parts[len(parts)-1] {
	case "xhr_streaming", "xhr":
		marker = xhrHeartbeat
	case "eventsource":
		marker = esHeartbeat
	default:
		return "", nil, false
	}
	return parts[len(parts)-3] + "/" + parts[len(parts)-2], marker, true
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
	key, marker, ok := receivingSession(req.URL.Path)
	if !ok {
		return t.next.RoundTrip(req)
	}
	tr := t.watch.track(key, marker, time.Now())
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
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.watch.read(b.t, p[:n], time.Now())
	}
	return n, err
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
	opts := &client.Options{Transports: []string{cfg.transport}, Header: cfg.header}
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
			return &watchedConn{Conn: c, watch: watch, t: watch.track("", wsHeartbeat, time.Now())}, nil
		},
	}
	return opts.HTTPClient, opts, nil
}
