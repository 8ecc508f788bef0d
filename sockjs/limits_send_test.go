package sockjs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// sendEndpoint is one HTTP sending endpoint and how its body is written.
type sendEndpoint struct {
	name        string
	contentType string
	body        func(payload string) string
	ok          int // the success status
}

var sendEndpoints = []sendEndpoint{
	{"xhr_send", "text/plain", func(p string) string { return p }, http.StatusNoContent},
	{"jsonp_send", "application/x-www-form-urlencoded", func(p string) string { return "d=" + url.QueryEscape(p) }, http.StatusOK},
}

// gatedApp is an application that reads nothing until open is closed, then
// reports every message and, last, the error its Recv ended with.
type gatedApp struct {
	open chan struct{}
	got  chan string
	end  chan error
}

func newGatedApp() *gatedApp {
	return &gatedApp{open: make(chan struct{}), got: make(chan string, 10000), end: make(chan error, 1)}
}

func (a *gatedApp) serve(ctx context.Context, s *sockjs.Session) {
	select {
	case <-a.open:
	case <-ctx.Done():
	}
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			a.end <- err
			return
		}
		a.got <- m
	}
}

// sendServer serves app at /x with o, counting the sends that reached it.
func sendServer(t *testing.T, o sockjs.Options, app sockjs.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var sends atomic.Int32
	o.AllowJSONP = true
	h := sockjs.NewHandler(o, app)
	srv := httptest.NewServer(http.StripPrefix("/x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "_send") {
			sends.Add(1)
		}
		h.ServeHTTP(w, r)
	})))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return srv, &sends
}

// openPolling opens an xhr-polling session and returns its URL base.
func openPolling(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	base := srv.URL + "/x/0/" + newSID()
	if code, body := post(t, srv.Client(), base+"/xhr", "text/plain", ""); code != http.StatusOK || body != "o\n" {
		t.Fatalf("opening poll: %d %q", code, body)
	}
	return base
}

// jsonArray encodes msgs (plain ASCII without quotes) as a JSON array.
func jsonArray(msgs ...string) string {
	return `["` + strings.Join(msgs, `","`) + `"]`
}

// A send that the application does not make room for within SendTimeout
// closes the session with 1013, delivers none of its messages (neither
// when its body does not fit, nor when its many small messages cost more
// than its body), and the client's next poll gets the close frame.
func TestSendTimeoutDeliversNothingAndCloses(t *testing.T) {
	t.Parallel()
	late := map[string][]string{
		"big messages":    {strings.Repeat("a", 300), strings.Repeat("b", 300)},
		"many small ones": strings.Split(strings.Repeat("c", 50), ""), // 201 bytes, cost 850
	}
	for _, ep := range sendEndpoints {
		for name, msgs := range late {
			t.Run(ep.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				app := newGatedApp()
				srv, _ := sendServer(t, sockjs.Options{MaxInboxBytes: 1000, SendTimeout: 300 * time.Millisecond}, app.serve)
				base := openPolling(t, srv)
				first := strings.Repeat("m", 600) // costs 616 of 1000
				if code, _ := post(t, srv.Client(), base+"/"+ep.name, ep.contentType, ep.body(jsonArray(first))); code != ep.ok {
					t.Fatalf("first send: %d", code)
				}
				if code, body := post(t, srv.Client(), base+"/"+ep.name, ep.contentType, ep.body(jsonArray(msgs...))); code != ep.ok {
					t.Fatalf("late send: %d %q, want %d (the close frame tells the client)", code, body, ep.ok)
				}
				if code, body := post(t, srv.Client(), base+"/xhr", "text/plain", ""); body != `c[1013,"Server did not take messages in time"]`+"\n" {
					t.Fatalf("poll after the timeout: %d %q", code, body)
				}
				close(app.open)
				if m := <-app.got; m != first {
					t.Fatalf("first message %.10q, want the first send's", m)
				}
				select {
				case m := <-app.got:
					t.Fatalf("the application got %.10q of the send that timed out", m)
				case err := <-app.end:
					if !errors.Is(err, sockjs.ErrSendTimeout) {
						t.Fatalf("Recv ended with %v, want ErrSendTimeout", err)
					}
				}
			})
		}
	}
}

// Concurrent sends to one session reach the application one after the
// other, each one's messages together, even when each is larger than the
// inbox and the application reads slowly.
func TestConcurrentSendsDoNotInterleave(t *testing.T) {
	t.Parallel()
	for _, ep := range sendEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			t.Parallel()
			app := newGatedApp()
			srv, sends := sendServer(t, sockjs.Options{MaxInboxBytes: 200}, app.serve)
			base := openPolling(t, srv)
			const senders, each = 4, 100
			var wg sync.WaitGroup
			for g := range senders {
				msgs := make([]string, each)
				for i := range msgs {
					msgs[i] = fmt.Sprintf("%d:%d", g, i)
				}
				wg.Go(func() {
					if code, body := post(t, srv.Client(), base+"/"+ep.name, ep.contentType, ep.body(jsonArray(msgs...))); code != ep.ok {
						t.Errorf("send %d: %d %q", g, code, body)
					}
				})
			}
			pollUntil(t, "every send to reach the handler", func() bool { return sends.Load() == senders })
			// Give the sends a moment to block on the full inbox, where a
			// server that delivers message by message mixes them up.
			time.Sleep(100 * time.Millisecond)
			close(app.open)
			var got []string
			for range senders * each {
				select {
				case m := <-app.got:
					got = append(got, m)
				case <-time.After(10 * time.Second):
					t.Fatalf("got only %d messages", len(got))
				}
			}
			wg.Wait()
			for i := 0; i < len(got); i += each {
				g, _, _ := strings.Cut(got[i], ":")
				for j := range each {
					if want := fmt.Sprintf("%s:%d", g, j); got[i+j] != want {
						t.Fatalf("message %d is %q, want %q: sends interleaved (%q)", i+j, got[i+j], want, got[max(0, i+j-3):i+j+1])
					}
				}
			}
		})
	}
}

// A send that arrives while another one of the same session is still in
// progress (here: its body is still coming) waits for it; if that takes
// longer than SendTimeout it gets 503 with Retry-After, and the session
// goes on. The slow send then completes.
func TestConcurrentSendBusy(t *testing.T) {
	t.Parallel()
	for _, ep := range sendEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			t.Parallel()
			app := newGatedApp()
			close(app.open)
			srv, _ := sendServer(t, sockjs.Options{SendTimeout: 200 * time.Millisecond}, app.serve)
			base := openPolling(t, srv)
			u, _ := url.Parse(base)

			// The slow send: headers, then half its body. Expect:
			// 100-continue tells when the server has started to read it,
			// that is, when it holds the session's send slot.
			body := ep.body(jsonArray("slow"))
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "POST %s/%s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
				u.Path, ep.name, ep.contentType, len(body))
			br := bufio.NewReader(conn)
			if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "100") {
				t.Fatalf("slow send: %q, %v; want 100 Continue", line, err)
			}
			br.ReadString('\n')
			fmt.Fprint(conn, body[:len(body)/2])

			resp, err := srv.Client().Post(base+"/"+ep.name, ep.contentType, strings.NewReader(ep.body(jsonArray("concurrent"))))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("concurrent send: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}

			fmt.Fprint(conn, body[len(body)/2:])
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != ep.ok {
				t.Fatalf("slow send: %d", resp.StatusCode)
			}
			if m := <-app.got; m != "slow" {
				t.Fatalf("got %q, want only the slow send's message", m)
			}
			if code, _ := post(t, srv.Client(), base+"/"+ep.name, ep.contentType, ep.body(jsonArray("after"))); code != ep.ok {
				t.Fatalf("send after: %d", code)
			}
			if m := <-app.got; m != "after" {
				t.Fatalf("got %q", m)
			}
		})
	}
}
