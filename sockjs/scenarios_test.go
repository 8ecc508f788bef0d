package sockjs_test

// The shared scenario table: every scenario runs over every transport of
// peerTransports (clients_test.go), against real HTTP servers.
//
//	scenario \ transport   websocket xhr_streaming xhr eventsource htmlfile jsonp rawwebsocket
//	echo                       x          x         x       x          x       x        x
//	ordering (1000)            x          x         x       x          x       x        x
//	unicode (all code points*) x          x         x       x          x       x        x
//	markup injection           x          x         x       x          x       x        x
//	close at open (/close)     x          x         x       x          x       x        x
//	close mid-session          x          x         x       x          x       x        x
//	concurrent senders         x          x         x       x          x       x        x
//
// (*) A sample under the race detector; see unicodeSample.
//
// The clients check every envelope as they parse it, so every scenario
// also checks the wire format; the htmlfile and jsonp clients check that
// no response holds "</script", "<script" or "<!--" beyond the envelope's
// own (see jsString).

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/sockjs"
)

// scenarioWait bounds every wait of a scenario.
const scenarioWait = 10 * time.Second

// scenarioApp echoes every message, except that "!close <code> <reason>"
// closes the session with that code and reason (after the echoes of the
// messages before it).
func scenarioApp(ctx context.Context, s *sockjs.Session) {
	for {
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if cmd, ok := strings.CutPrefix(msg, "!close "); ok {
			code, reason, _ := strings.Cut(cmd, " ")
			n, _ := strconv.Atoi(code)
			_ = s.Close(n, reason)
			return
		}
		if s.Send(msg) != nil {
			return
		}
	}
}

// scenarioServer serves /echo (scenarioApp) and /close (closes every
// session at once with 3000 "Go away!"), every transport on, and returns
// the server's URL.
func scenarioServer(t *testing.T) string {
	t.Helper()
	opts := sockjs.Options{
		RawWebSocket:  true,
		AllowJSONP:    true,     // origins stay restricted; the test clients send no Origin
		ResponseLimit: 64 << 10, // streaming responses end and reconnect within the bigger scenarios
	}
	echo := sockjs.NewHandler(opts, scenarioApp)
	closer := sockjs.NewHandler(opts, func(_ context.Context, s *sockjs.Session) {
		_ = s.Close(3000, "Go away!")
	})
	r := chi.NewRouter()
	r.Mount("/echo", echo)
	r.Mount("/close", closer)
	return startServer(t, r, echo, closer).URL
}

// scenario is one row of the table.
type scenario struct {
	name string
	run  func(t *testing.T, dial func(service string) peer)
}

var scenarios = []scenario{
	{"echo", scenarioEcho},
	{"ordering", scenarioOrdering},
	{"unicode", scenarioUnicode},
	{"markup", scenarioMarkup},
	{"close_at_open", scenarioCloseAtOpen},
	{"close_mid_session", scenarioCloseMidSession},
	{"concurrent_senders", scenarioConcurrentSenders},
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	url := scenarioServer(t)
	for _, tr := range peerTransports {
		for _, sc := range scenarios {
			t.Run(tr.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t, func(service string) peer {
					t.Helper()
					ctx, cancel := context.WithTimeout(context.Background(), 2*scenarioWait)
					defer cancel()
					p, err := tr.dial(ctx, url+"/"+service)
					if err != nil {
						t.Fatalf("%s: open: %v", tr.name, err)
					}
					t.Cleanup(p.Close)
					return p
				})
			})
		}
	}
}

func peerSend(t *testing.T, p peer, msgs ...string) {
	t.Helper()
	if err := p.Send(msgs...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// expectPeerMessages reads the next len(want) events, which must be exactly
// these messages in this order.
func expectPeerMessages(t *testing.T, p peer, want ...string) {
	t.Helper()
	for i, w := range want {
		ev, err := p.Next(scenarioWait)
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, len(want), err)
		}
		if ev.Closed {
			t.Fatalf("message %d of %d: the session closed (%d %q)", i, len(want), ev.Code, ev.Reason)
		}
		if ev.Msg != w {
			t.Fatalf("message %d of %d: got %q; want %q", i, len(want), abbrev(ev.Msg), abbrev(w))
		}
	}
}

// expectPeerClose reads the next event, which must be the close with code and
// reason, and checks that the transport then ends cleanly.
func expectPeerClose(t *testing.T, p peer, code int, reason string) {
	t.Helper()
	ev, err := p.Next(scenarioWait)
	if err != nil {
		t.Fatalf("waiting for the close: %v", err)
	}
	if !ev.Closed || ev.Code != code || ev.Reason != reason {
		t.Fatalf("got %+v; want the close %d %q", ev, code, reason)
	}
	if err := p.Ended(scenarioWait); err != nil {
		t.Fatalf("after the close: %v", err)
	}
}

func scenarioEcho(t *testing.T, dial func(string) peer) {
	p := dial("echo")
	peerSend(t, p, "hello")
	expectPeerMessages(t, p, "hello")
	peerSend(t, p, "", "two", "in one send")
	expectPeerMessages(t, p, "", "two", "in one send")
}

// scenarioOrdering sends 1000 messages in sends of 1 to 17 messages, without
// waiting for the echoes, and checks they all come back in order.
func scenarioOrdering(t *testing.T, dial func(string) peer) {
	p := dial("echo")
	const n = 1000
	want := make([]string, n)
	for i := range want {
		want[i] = "message " + strconv.Itoa(i)
	}
	for i := 0; i < n; {
		k := min(1+i%17, n-i)
		peerSend(t, p, want[i:i+k]...)
		i += k
	}
	expectPeerMessages(t, p, want...)
}

// unicodeChunks returns every code point from U+0000 to U+10FFFF except
// the surrogates, in order, as strings of up to size code points.
func unicodeChunks(size int) []string {
	var chunks []string
	var b strings.Builder
	n := 0
	for r := rune(0); r <= 0x10ffff; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		b.WriteRune(r)
		if n++; n == size {
			chunks = append(chunks, b.String())
			b.Reset()
			n = 0
		}
	}
	if n > 0 {
		chunks = append(chunks, b.String())
	}
	return chunks
}

var allCodePoints = sync.OnceValue(func() []string { return unicodeChunks(8192) })

// unicodeSample returns the chunks the unicode scenario sends: all of them,
// or under the race detector (which makes this scenario take minutes, and
// has nothing to find in pure encoding work) every chunk of the Basic
// Multilingual Plane, where all the specially escaped ranges are, one in
// eight of the astral chunks, and the last one. A plain `go test` run sends
// every code point; internal/frame also checks each one alone.
func unicodeSample() []string {
	all := allCodePoints()
	if !raceEnabled {
		return all
	}
	var sample []string
	for i, c := range all {
		if r, _ := utf8.DecodeRuneInString(c); r < 0x10000 || i%8 == 0 || i == len(all)-1 {
			sample = append(sample, c)
		}
	}
	return sample
}

// scenarioUnicode round-trips every code point, a few chunks at a time
// (waiting for each window's echoes keeps the queues small).
func scenarioUnicode(t *testing.T, dial func(string) peer) {
	p := dial("echo")
	chunks := unicodeSample()
	const window = 4
	for i := 0; i < len(chunks); i += window {
		w := chunks[i:min(i+window, len(chunks))]
		peerSend(t, p, w...)
		for j, want := range w {
			ev, err := p.Next(scenarioWait)
			if err != nil {
				t.Fatalf("chunk %d: %v", i+j, err)
			}
			if ev.Msg != want {
				t.Fatalf("chunk %d (from U+%04X) came back changed (%d bytes, want %d)", i+j, []rune(want)[0], len(ev.Msg), len(want))
			}
		}
	}
}

// markupMessages try to end a <script> block, open a comment, break out of
// a JavaScript string or callback call, start a new script, or pass for a
// URI escape.
var markupMessages = []string{
	"</script>",
	"</SCRIPT >",
	"<!--",
	"-->",
	`"); alert(1); ("`,
	`'); alert(1); ('`,
	"<script>alert(1)</script>",
	"</script><script>alert(document.domain)</script><!--",
	"<![CDATA[ ]]>",
	`\"); alert(1); //`,
	"\u2028alert(1)\u2029",
	"&lt;/script&gt;",
	"100% %25 %0A %zz %41 %", // eventsource records go through decodeURI in sockjs-client
}

// scenarioMarkup checks that markup comes back exactly; the clients check
// that none of it reaches a response unescaped (see jsString).
func scenarioMarkup(t *testing.T, dial func(string) peer) {
	p := dial("echo")
	for _, m := range markupMessages {
		peerSend(t, p, m)
		expectPeerMessages(t, p, m)
	}
	peerSend(t, p, markupMessages...)
	expectPeerMessages(t, p, markupMessages...)
}

// scenarioCloseAtOpen: the application closes as soon as the session
// starts; the client sees the close and nothing before it.
func scenarioCloseAtOpen(t *testing.T, dial func(string) peer) {
	expectPeerClose(t, dial("close"), 3000, "Go away!")
}

// scenarioCloseMidSession: messages sent before the application closes
// arrive before the close.
func scenarioCloseMidSession(t *testing.T, dial func(string) peer) {
	p := dial("echo")
	peerSend(t, p, "a", "b")
	expectPeerMessages(t, p, "a", "b")
	peerSend(t, p, "c", "!close 3001 bye now")
	expectPeerMessages(t, p, "c")
	expectPeerClose(t, p, 3001, "bye now")
}

// scenarioConcurrentSenders: several goroutines send at once; each one's
// messages arrive in its order, and all of them arrive.
func scenarioConcurrentSenders(t *testing.T, dial func(string) peer) {
	p := dial("echo")
	const senders, each = 6, 30
	errs := make(chan error, senders)
	for g := range senders {
		go func() {
			for i := range each {
				if err := p.Send(fmt.Sprintf("%d:%d", g, i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	next := make([]int, senders)
	for range senders * each {
		ev, err := p.Next(scenarioWait)
		if err != nil {
			t.Fatal(err)
		}
		var g, i int
		if _, err := fmt.Sscanf(ev.Msg, "%d:%d", &g, &i); err != nil || g < 0 || g >= senders {
			t.Fatalf("unexpected message %q", ev.Msg)
		}
		if i != next[g] {
			t.Fatalf("sender %d: got message %d; want %d", g, i, next[g])
		}
		next[g]++
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
