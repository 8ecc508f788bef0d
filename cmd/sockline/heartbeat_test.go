package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

func TestHeartbeatWatch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type read struct {
		ms   int
		data string
	}
	prelude := strings.Repeat("h", 2048) + "\n"
	tests := []struct {
		name  string
		m     markers
		reads []read
		end   int // ms of finish
		want  heartbeatStats
	}{
		{"on time", wsMarkers, []read{{0, "HTTP/1.1 101 Switching Protocols\r\n\r\n"}, {100, "\x81\x01o"}, {1100, "\x81\x01h"}, {2100, "\x81\x01h"}, {3100, "\x89\x00\x81\x01h"}}, 3600,
			heartbeatStats{Sessions: 1, Frames: 3, MaxGapMs: 1000}},
		{"one late", wsMarkers, []read{{0, "\x81\x01o"}, {1000, "\x81\x01h"}, {2600, "\x81\x01h"}, {3600, "\x81\x01h"}}, 4000,
			heartbeatStats{Sessions: 1, Frames: 3, Late: 1, LateSessions: 1, MaxGapMs: 1600}},
		{"missing at the end", xhrMarkers, []read{{0, "o\n"}, {1000, "h\n"}, {2000, "h\n"}}, 4000,
			heartbeatStats{Sessions: 1, Frames: 2, Late: 1, LateSessions: 1, MaxGapMs: 2000}},
		{"none at all", esMarkers, []read{{0, "data: o\r\n\r\n"}}, 3000,
			heartbeatStats{Sessions: 1, Late: 1, LateSessions: 1, MaxGapMs: 3000}},
		{"the clock starts at the open frame", xhrMarkers, []read{{0, prelude}, {5000, "o\n"}, {6000, "h\n"}}, 6500,
			heartbeatStats{Sessions: 1, Frames: 1, MaxGapMs: 1000}},
		{"the prelude and the open frame in one read", xhrMarkers, []read{{20, prelude + "o\n"}, {1020, "h\n"}}, 1500,
			heartbeatStats{Sessions: 1, Frames: 1, MaxGapMs: 1000}},
		{"messages are not heartbeats", xhrMarkers, []read{{0, "o\n"}, {1000, "a[\"h\"]\n"}}, 1200,
			heartbeatStats{Sessions: 1, MaxGapMs: 1200}},
		{"a marker split over two reads", esMarkers, []read{{0, "data: o\r\n\r\n"}, {1000, "data: "}, {1001, "h\r\n\r\n"}, {2000, "data: h\r\n\r\n"}}, 2500,
			heartbeatStats{Sessions: 1, Frames: 2, MaxGapMs: 1001}},
		{"an open frame split over two reads", wsMarkers, []read{{0, "\x81"}, {1, "\x01o"}, {1001, "\x81\x01h"}}, 1500,
			heartbeatStats{Sessions: 1, Frames: 1, MaxGapMs: 1000}},
		{"several in one read arrive together", xhrMarkers, []read{{0, "o\n"}, {1000, "h\nh\nh\n"}}, 1500,
			heartbeatStats{Sessions: 1, Frames: 1, MaxGapMs: 1000}},
		{"never opened: left out", xhrMarkers, []read{{1000, "h\n"}, {2000, "h\n"}}, 5000,
			heartbeatStats{Left: 1}},
		{"closed by the server: left out", xhrMarkers, []read{{0, "o\n"}, {500, "c[3000,\"Go away!\"]\n"}}, 5000,
			heartbeatStats{Left: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newHeartbeatWatch(1000*time.Millisecond, 200*time.Millisecond)
			tr := w.track("", tt.m)
			for _, r := range tt.reads {
				w.read(tr, []byte(r.data), at(r.ms))
			}
			got := w.finish(at(tt.end))
			got.P50GapMs, got.P99GapMs, got.P999GapMs = 0, 0, 0 // TestHeartbeatWatchSessions checks them
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// After finish, arrivals no longer count.
			w.read(tr, tt.m.heartbeat, at(tt.end+5000))
			again := w.finish(at(tt.end + 9000))
			again.P50GapMs, again.P99GapMs, again.P999GapMs = 0, 0, 0
			if again != tt.want {
				t.Fatalf("after finish: got %+v, want %+v", again, tt.want)
			}
		})
	}
}

func TestHeartbeatWatchSessions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	w := newHeartbeatWatch(time.Second, 0)
	// Polls of one session share a track; another session has its own.
	a1 := w.track("000/aaa", xhrMarkers)
	b := w.track("000/bbb", xhrMarkers)
	w.read(a1, []byte("o\n"), ms(0))
	w.read(b, []byte("o\n"), ms(0))
	w.read(a1, []byte("h\n"), ms(900))
	a2 := w.track("000/aaa", xhrMarkers)
	if a1 != a2 || a1 == b {
		t.Fatalf("tracks: a1 %p a2 %p b %p: want one per session", a1, a2, b)
	}
	w.read(a2, []byte("h\n"), ms(1800))
	w.read(b, []byte("h\n"), ms(1500)) // late
	// A session whose request the client gave up on is left out, unless
	// the client comes back to it with a new request.
	c := w.track("000/ccc", xhrMarkers)
	w.read(c, []byte("o\n"), ms(0))
	w.clientClosed(c)
	d := w.track("000/ddd", xhrMarkers)
	w.read(d, []byte("o\n"), ms(0))
	w.clientClosed(d)
	w.track("000/ddd", xhrMarkers)
	w.read(d, []byte("h\n"), ms(1000))
	got := w.finish(ms(2000))
	// Gaps: a 900 900 200, b 1500 500, d 1000 1000.
	want := heartbeatStats{Sessions: 3, Left: 1, Frames: 4, Late: 1, LateSessions: 1,
		MaxGapMs: 1500, P50GapMs: 900, P99GapMs: 1500, P999GapMs: 1500}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestReceivingSession(t *testing.T) {
	tests := []struct {
		path string
		key  string
		m    markers
		ok   bool
	}{
		{"/echo/123/abc/xhr_streaming", "123/abc", xhrMarkers, true},
		{"/a/b/echo/123/abc/xhr", "123/abc", xhrMarkers, true},
		{"/echo/123/abc/eventsource", "123/abc", esMarkers, true},
		{"/echo/123/abc/xhr_send", "", markers{}, false},
		{"/echo/info", "", markers{}, false},
		{"/echo/123/abc/websocket", "", markers{}, false},
		{"/xhr", "", markers{}, false},
	}
	for _, tt := range tests {
		key, m, ok := receivingSession(tt.path)
		if key != tt.key || !bytes.Equal(m.open, tt.m.open) || !bytes.Equal(m.heartbeat, tt.m.heartbeat) || ok != tt.ok {
			t.Errorf("receivingSession(%q) = %q, %q, %v; want %q, %q, %v", tt.path, key, m, ok, tt.key, tt.m, tt.ok)
		}
	}
}

// heartbeatServer serves an echo endpoint with the given heartbeat delay
// (negative: none).
func heartbeatServer(t *testing.T, delay time.Duration) string {
	t.Helper()
	h := sockjs.NewHandler(sockjs.Options{HeartbeatDelay: delay}, services.Echo)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL
}

func TestBenchIdleHeartbeats(t *testing.T) {
	every := heartbeatServer(t, 100*time.Millisecond)
	none := heartbeatServer(t, -1)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			tests := []struct {
				name     string
				url      string
				args     []string
				wantLate bool
			}{
				// A 10 s slack: a heartbeat every 100 ms is never that late.
				{"on time", every, []string{"-heartbeat", "100ms", "-slack", "10s", "-openers", "2", "-open-timeout", "20s"}, false},
				// No heartbeats: every session misses them, whatever
				// the speed of the machine.
				{"none", none, []string{"-heartbeat", "100ms", "-slack", "0s"}, true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					args := append([]string{"-mode", "idle", "-t", tr, "-n", "4", "-d", "600ms"}, tt.args...)
					s, _ := bench(t, append(args, tt.url)...)
					if s.Connected != 4 || s.Dropped != 0 || s.HeartbeatSessions != 4 {
						t.Fatalf("summary %+v: want 4 sessions held and watched", s)
					}
					if !tt.wantLate && (s.LateHeartbeats != 0 || s.Heartbeats < 4) {
						t.Fatalf("summary %+v: want heartbeats, none late", s)
					}
					if tt.wantLate && (s.LateHeartbeats < 4 || s.LateHeartbeatSess != 4 || s.MaxHeartbeatGapMs < 100) {
						t.Fatalf("summary %+v: want every session late", s)
					}
				})
			}
		})
	}
}

// remoteIPs is a handler that notes the address of every request's peer.
type remoteIPs struct {
	next http.Handler
	mu   sync.Mutex
	ips  map[string]int
}

func (h *remoteIPs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	h.mu.Lock()
	h.ips[host]++
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}

func TestBenchSource(t *testing.T) {
	h := sockjs.NewHandler(sockjs.Options{}, services.Echo)
	ips := &remoteIPs{next: h, ips: map[string]int{}}
	ts := httptest.NewServer(ips)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
	})
	for i, tr := range transports {
		src := fmt.Sprintf("127.0.0.%d", 2+i)
		t.Run(tr, func(t *testing.T) {
			for _, mode := range []string{"echo", "idle"} {
				s, _ := bench(t, "-mode", mode, "-t", tr, "-n", "2", "-d", "300ms", "-source", src, ts.URL)
				if s.Connected != 2 || s.Errors != 0 {
					t.Fatalf("%s: summary %+v", mode, s)
				}
			}
			ips.mu.Lock()
			defer ips.mu.Unlock()
			if ips.ips[src] == 0 {
				t.Fatalf("requests came from %v: want some from %s", ips.ips, src)
			}
		})
	}
	ips.mu.Lock()
	defer ips.mu.Unlock()
	if len(ips.ips) != len(transports) || ips.ips["127.0.0.1"] != 0 {
		t.Fatalf("requests came from %v: want only the -source addresses", ips.ips)
	}
	if code, _, _ := sockline(t, "", "bench", "-source", "nowhere", ts.URL); code != 2 {
		t.Fatalf("-source nowhere: exit %d, want 2", code)
	}
}

// lockedWriter is a stderr written by one goroutine and read by another.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// lastReceived is the last "received N" of bench's progress lines.
func lastReceived(progress string) uint64 {
	var n uint64
	for _, line := range strings.Split(progress, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "received" {
				_, _ = fmt.Sscan(f[i+1], &n)
			}
		}
	}
	return n
}

func TestBenchBroadcastSubscribeOnly(t *testing.T) {
	url := startServer(t) + "/broadcast"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subErr := &lockedWriter{}
	var subOut bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"bench", "-json", "-mode", "broadcast", "-subscribe-only", "-tag", "shared",
			"-n", "3", "-d", "60s", url}, nil, &subOut, subErr)
	}()
	for i := 0; i < 1000 && !strings.Contains(subErr.String(), markMeasuring); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(subErr.String(), markMeasuring) {
		cancel()
		<-done
		t.Fatalf("the subscribers never started: %s", subErr.String())
	}
	// Another tag's messages reach the subscribers too, and are not theirs.
	other, _ := bench(t, "-mode", "broadcast", "-n", "1", "-rate", "20", "-d", "300ms", url)
	pub, _ := bench(t, "-mode", "broadcast", "-tag", "shared", "-n", "2", "-rate", "20", "-d", "500ms", url)
	if pub.Sent == 0 || pub.Lost != 0 || other.Sent == 0 {
		t.Fatalf("publisher %+v, other %+v", pub, other)
	}
	want := 3 * pub.Sent
	for i := 0; i < 1000 && lastReceived(subErr.String()) < want; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("subscribers: exit %d; %s", code, subErr.String())
	}
	var s benchSummary
	if err := json.Unmarshal(subOut.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Connected != 3 || s.Sent != 0 || s.Received != want || s.Lost != 0 || s.Duplicated != 0 || s.Errors != 0 {
		t.Fatalf("subscribers %+v: want every one of the %d messages published with their tag, once each", s, pub.Sent)
	}
	if code, _, _ := sockline(t, "", "bench", "-mode", "broadcast", "-subscribe-only", url); code != 2 {
		t.Fatalf("-subscribe-only without -tag: exit %d, want 2", code)
	}
}
