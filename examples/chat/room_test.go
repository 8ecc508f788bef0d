package main

// The chat over real HTTP: an httptest server with the same wiring as the
// binary (newServer), and xhr-polling clients that speak the SockJS protocol
// by hand. Every wait has a deadline.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sockline/sockline/sockjs"
)

const waitFor = 10 * time.Second

// startChat serves the chat on a loopback port until the test ends.
func startChat(t *testing.T, opts sockjs.Options) string {
	t.Helper()
	r, h := newServer(opts)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		// end the sessions (and their long polls) before the server waits
		// for its requests
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return srv.URL
}

// xhrClient is one browser on xhr-polling: a goroutine keeps one poll
// outstanding (as sockjs-client does) and hands the chat events over.
type xhrClient struct {
	t      *testing.T
	name   string // for messages
	url    string // {base}/chat/{server}/{session}
	events chan event
	errc   chan error
	cancel context.CancelFunc
	done   chan struct{}
	// mu guards polling and stop: stop is set only while a poll is out,
	// which is then the last one.
	mu      sync.Mutex
	polling bool
	stop    bool
}

// dialXHR opens a session (its first poll must answer "o") and starts polling.
func dialXHR(t *testing.T, base, label string) *xhrClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &xhrClient{
		t:      t,
		name:   label,
		url:    fmt.Sprintf("%s/chat/000/%s", base, rand.Text()),
		events: make(chan event, 256),
		errc:   make(chan error, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	octx, ocancel := context.WithTimeout(ctx, waitFor)
	body, err := c.post(octx, "xhr", "")
	ocancel()
	if err != nil || body != "o\n" {
		cancel()
		t.Fatalf("%s: opening poll: %q, %v; want \"o\\n\"", label, body, err)
	}
	go c.poll(ctx)
	t.Cleanup(c.close)
	return c
}

func (c *xhrClient) post(ctx context.Context, endpoint, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/"+endpoint, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	want := http.StatusOK
	if endpoint == "xhr_send" {
		want = http.StatusNoContent
	}
	if res.StatusCode != want {
		return "", fmt.Errorf("POST %s: %d %q", endpoint, res.StatusCode, b)
	}
	return string(b), nil
}

// poll runs one long poll after the other until close, or until the session
// is closed or a poll fails (reported on errc).
func (c *xhrClient) poll(ctx context.Context) {
	defer close(c.done)
	for {
		c.mu.Lock()
		c.polling = true
		c.mu.Unlock()
		body, err := c.post(ctx, "xhr", "")
		c.mu.Lock()
		c.polling = false
		last := c.stop
		c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = c.frame(ctx, strings.TrimSuffix(body, "\n"))
		}
		if err != nil {
			c.errc <- err
			return
		}
		if last {
			return
		}
	}
}

// frame hands the events of one SockJS frame over: "h" is a heartbeat,
// "a[...]" a batch of messages (each a JSON event), "c[...]" the close.
func (c *xhrClient) frame(ctx context.Context, f string) error {
	switch {
	case f == "h":
		return nil
	case strings.HasPrefix(f, "a"):
		var msgs []string
		if err := json.Unmarshal([]byte(f[1:]), &msgs); err != nil {
			return fmt.Errorf("bad frame %q: %v", f, err)
		}
		for _, m := range msgs {
			var e event
			if err := json.Unmarshal([]byte(m), &e); err != nil {
				return fmt.Errorf("bad event %q: %v", m, err)
			}
			select {
			case c.events <- e:
			case <-ctx.Done():
				return nil
			}
		}
		return nil
	case strings.HasPrefix(f, "c"):
		return fmt.Errorf("session closed: %s", f)
	}
	return fmt.Errorf("unexpected frame %q", f)
}

// send posts msgs through xhr_send.
func (c *xhrClient) send(msgs ...string) {
	c.t.Helper()
	b, _ := json.Marshal(msgs)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.post(ctx, "xhr_send", string(b)); err != nil {
		c.t.Fatalf("%s: send %q: %v", c.name, msgs, err)
	}
}

// next is the next event, within the deadline.
func (c *xhrClient) next() event {
	c.t.Helper()
	select {
	case e := <-c.events:
		return e
	case err := <-c.errc:
		c.t.Fatalf("%s: %v", c.name, err)
	case <-time.After(waitFor):
		c.t.Fatalf("%s: no event within %v", c.name, waitFor)
	}
	return event{}
}

// expect takes the next events and compares them with want, in order.
func (c *xhrClient) expect(want ...event) {
	c.t.Helper()
	for _, w := range want {
		if got := c.next(); !reflect.DeepEqual(got, w) {
			c.t.Fatalf("%s: got %+v; want %+v", c.name, got, w)
		}
	}
}

// quiet checks that no event arrives for a short while.
func (c *xhrClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case e := <-c.events:
		c.t.Fatalf("%s: unexpected event %+v", c.name, e)
	case <-time.After(d):
	}
}

// abandon makes the client stop polling once its current poll has answered,
// as a browser that goes away between two polls: with no receiving request
// the session ends after the disconnect delay.
//
// It waits for a poll to be out: abandoning while the client hands over
// the events of the one that has just answered would leave no poll to
// answer the next event.
func (c *xhrClient) abandon() {
	for {
		c.mu.Lock()
		if c.polling {
			c.stop = true
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		select {
		case <-c.done: // the client stopped (an error) and polls no more
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// close aborts the outstanding poll, as sockjs-client's close() or a closed
// tab does: the server closes the session at once (1002 "Connection
// interrupted").
func (c *xhrClient) close() {
	c.cancel()
	<-c.done
}

func TestChatJoinBroadcastLeave(t *testing.T) {
	// the disconnect delay is the time a client has to poll again: wide
	// enough for a loaded machine to deschedule the polling goroutine
	base := startChat(t, sockjs.Options{DisconnectDelay: 2 * time.Second})

	ann := dialXHR(t, base, "ann")
	ann.send("Ann")
	ann.expect(
		event{Type: "welcome", User: "Ann", Transport: "xhr"},
		event{Type: "join", User: "Ann", Transport: "xhr"},
	)

	bob := dialXHR(t, base, "bob")
	bob.send("  Bob\t")
	bob.expect(
		event{Type: "welcome", User: "Bob", Transport: "xhr", Users: []member{{"Ann", "xhr"}}},
		event{Type: "join", User: "Bob", Transport: "xhr"},
	)
	ann.expect(event{Type: "join", User: "Bob", Transport: "xhr"})

	// one line from Ann, two in one request from Bob: everyone gets all, in order
	ann.send("hello, Bob")
	for _, c := range []*xhrClient{ann, bob} {
		c.expect(event{Type: "message", User: "Ann", Transport: "xhr", Text: "hello, Bob"})
	}
	bob.send("hi Ann", "<b>not markup</b> ☃ 😀")
	for _, c := range []*xhrClient{ann, bob} {
		c.expect(
			event{Type: "message", User: "Bob", Transport: "xhr", Text: "hi Ann"},
			event{Type: "message", User: "Bob", Transport: "xhr", Text: "<b>not markup</b> ☃ 😀"},
		)
	}

	// Carol comes and closes her socket (her poll is aborted): the others are
	// told at once
	carol := dialXHR(t, base, "carol")
	carol.send("Carol")
	carol.expect(
		event{Type: "welcome", User: "Carol", Transport: "xhr", Users: []member{{"Ann", "xhr"}, {"Bob", "xhr"}}},
		event{Type: "join", User: "Carol", Transport: "xhr"},
	)
	for _, c := range []*xhrClient{ann, bob} {
		c.expect(event{Type: "join", User: "Carol", Transport: "xhr"})
	}
	carol.close()
	for _, c := range []*xhrClient{ann, bob} {
		c.expect(event{Type: "leave", User: "Carol", Transport: "xhr"})
	}

	// Bob's browser stops polling between two polls: Ann is told once the
	// disconnect delay (2 s) has passed without a poll
	bob.abandon()
	ann.send("bye, Bob")
	for _, c := range []*xhrClient{ann, bob} {
		c.expect(event{Type: "message", User: "Ann", Transport: "xhr", Text: "bye, Bob"})
	}
	gone := time.Now()
	ann.expect(event{Type: "leave", User: "Bob", Transport: "xhr"})
	// gone is taken once Bob has his last poll's answer, after the delay
	// started: the leave can come a little sooner than 2 s, never at once
	if d := time.Since(gone); d < time.Second {
		t.Errorf("Bob's leave came %v after his last poll; want about the disconnect delay (2 s)", d)
	}

	// and the room goes on without them
	ann.send("anyone?")
	ann.expect(event{Type: "message", User: "Ann", Transport: "xhr", Text: "anyone?"})
	ann.quiet(100 * time.Millisecond)
}

func TestChatNamesOverHTTP(t *testing.T) {
	base := startChat(t, sockjs.Options{DisconnectDelay: 2 * time.Second})
	long := strings.Repeat("ж", 40)
	var present []member
	for i, tc := range []struct{ sent, want string }{
		{"", "user-1"},
		{" \t ", "user-2"},
		{long, strings.Repeat("ж", 32)},
		{strings.Repeat("😀", 33), strings.Repeat("😀", 32)},
		{strings.Repeat("n", 32), strings.Repeat("n", 32)},
	} {
		// the earlier clients stay (closing one would send its leave to the
		// next); each one's name is numbered in the order names arrive, and
		// each is welcomed with the earlier ones, sorted by name
		c := dialXHR(t, base, fmt.Sprintf("client %d", i+1))
		c.send(tc.sent)
		c.expect(
			event{Type: "welcome", User: tc.want, Transport: "xhr", Users: slices.Clone(present)},
			event{Type: "join", User: tc.want, Transport: "xhr"},
		)
		present = append(present, member{tc.want, "xhr"})
		slices.SortFunc(present, func(a, b member) int { return strings.Compare(a.User, b.User) })
	}
}

func TestChatLongMessagesAreCut(t *testing.T) {
	base := startChat(t, sockjs.Options{})
	c := dialXHR(t, base, "cutter")
	c.send("Cutter")
	c.expect(
		event{Type: "welcome", User: "Cutter", Transport: "xhr"},
		event{Type: "join", User: "Cutter", Transport: "xhr"},
	)
	c.send(strings.Repeat("x", 5000))
	if got := c.next(); got.Type != "message" || got.Text != strings.Repeat("x", 4096) {
		t.Fatalf("5000 x: got %s %d bytes; want a message of 4096", got.Type, len(got.Text))
	}
	// cut inside a 3-byte rune: still valid UTF-8, a prefix of what was sent
	sent := strings.Repeat("€", 2000)
	c.send(sent)
	got := c.next()
	kept := strings.TrimSuffix(got.Text, "\uFFFD")
	if !utf8.ValidString(got.Text) || !strings.HasPrefix(sent, kept) || len(kept) < 4090 || len(kept) > 4096 {
		t.Fatalf("2000 €: got %d bytes (%q…); want a valid prefix of about 4096 bytes", len(got.Text), got.Text[:min(12, len(got.Text))])
	}
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		id   int64
		want string
	}{
		{"", 7, "user-7"},
		{"   ", 8, "user-8"},
		{"  Ann \t", 1, "Ann"},
		{"A\xffB", 1, "AB"},
		{"\xff\xfe", 3, "user-3"},
		{strings.Repeat("é", 32), 1, strings.Repeat("é", 32)},
		{strings.Repeat("é", 33), 1, strings.Repeat("é", 32)},
		{strings.Repeat("😀", 100), 1, strings.Repeat("😀", 32)},
	} {
		if got := cleanName(tc.in, tc.id); got != tc.want {
			t.Errorf("cleanName(%q, %d) = %q; want %q", tc.in, tc.id, got, tc.want)
		}
	}
}

// The wiring the binary uses: the page at / loading the configured
// sockjs-client, SockJS at /chat, own origin and -allow-origin ones only.
func TestChatWiring(t *testing.T) {
	const other = "http://pages.example"
	base := startChat(t, sockjs.Options{SockJSURL: "http://cdn.example/sockjs.js", AllowedOrigins: []string{other}})

	get := func(path, origin string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	res, body := get("/", "")
	if res.StatusCode != 200 || !strings.Contains(body, `<script src="http://cdn.example/sockjs.js">`) || !strings.Contains(body, "window.chatEvents") {
		t.Fatalf("GET /: %d, page without the configured sockjs-client or the chat script:\n%s", res.StatusCode, body)
	}
	if res, body := get("/chat/info", ""); res.StatusCode != 200 || !strings.Contains(body, `"websocket":true`) {
		t.Fatalf("GET /chat/info: %d %s", res.StatusCode, body)
	}
	if res, _ := get("/chat/info", other); res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != other {
		t.Fatalf("GET /chat/info from %s: %d, ACAO %q", other, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	if res, _ := get("/chat/info", "http://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /chat/info from another origin: %d; want 403", res.StatusCode)
	}
}
