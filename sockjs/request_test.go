package sockjs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// userKey is the context key a test middleware stores an identity under.
type userKey struct{}

// withUser is an authentication middleware stand-in: it puts the X-User
// header's value (or "anonymous") in the request's context.
func withUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := r.Header.Get("X-User")
		if u == "" {
			u = "anonymous"
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// requestReport is what reportApp tells the client about its session.
type requestReport struct {
	Transport  string
	User       any // from the session's context
	ReqUser    any // from Request().Context()
	Path       string
	Token      string
	Cookie     string
	Header     string
	RemoteAddr string
	Body       string
	TLS        bool
	Proto      int
	CtxErr     string // the session context's error once the creating request is over
}

// reportApp waits for one message (which arrives on a later request than
// the creating one for the HTTP transports) and answers with what the
// session says of its creating request.
func reportApp(ctx context.Context, s *sockjs.Session) {
	if _, err := s.Recv(ctx); err != nil {
		return
	}
	r := s.Request()
	rep := requestReport{
		Transport:  s.Transport(),
		User:       ctx.Value(userKey{}),
		ReqUser:    r.Context().Value(userKey{}),
		Path:       r.URL.Path,
		Token:      r.URL.Query().Get("token"),
		Header:     s.Header().Get("X-User"),
		RemoteAddr: s.RemoteAddr(),
		TLS:        r.TLS != nil && r.TLS.HandshakeComplete,
		Proto:      r.ProtoMajor,
	}
	if ctx.Err() != nil {
		rep.CtxErr = ctx.Err().Error()
	}
	for _, c := range s.Cookies() {
		if c.Name == "a" {
			rep.Cookie = c.Value
		}
	}
	b, _ := io.ReadAll(r.Body)
	rep.Body = string(b)
	out, _ := json.Marshal(rep)
	_ = s.Send(string(out))
	<-ctx.Done()
}

// Every transport gives the handler the creating request, and its context's
// values reach the handler's context, which the request's end does not
// cancel.
func TestSessionRequestEveryTransport(t *testing.T) {
	h := sockjs.NewHandler(sockjs.Options{RawWebSocket: true, AllowJSONP: true}, reportApp)
	srv := httptest.NewServer(withUser(http.StripPrefix("/x", h)))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) }) // first: the polling sessions would outlive the test
	for _, tr := range peerTransports {
		t.Run(tr.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), scenarioWait)
			defer cancel()
			p, err := tr.dial(ctx, srv.URL+"/x")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Send("report"); err != nil {
				t.Fatal(err)
			}
			ev, err := p.Next(scenarioWait)
			if err != nil {
				t.Fatal(err)
			}
			var rep requestReport
			if err := json.Unmarshal([]byte(ev.Msg), &rep); err != nil {
				t.Fatalf("report %q: %v", ev.Msg, err)
			}
			suffix := "/" + tr.name
			if tr.name == "rawwebsocket" {
				suffix = "/websocket"
			}
			switch {
			case rep.Transport != tr.name:
				t.Errorf("Transport() = %q, want %q", rep.Transport, tr.name)
			case rep.User != "anonymous" || rep.ReqUser != "anonymous":
				t.Errorf("middleware value: context %v, Request().Context() %v, want anonymous", rep.User, rep.ReqUser)
			case !strings.HasSuffix(rep.Path, suffix): // as http.StripPrefix left it
				t.Errorf("Request().URL.Path = %q, want .../%s", rep.Path, suffix)
			case rep.RemoteAddr == "" || !strings.HasPrefix(rep.RemoteAddr, "127.0.0.1:"):
				t.Errorf("RemoteAddr() = %q", rep.RemoteAddr)
			case rep.CtxErr != "":
				t.Errorf("session context ended with its creating request: %s", rep.CtxErr)
			case rep.Body != "":
				t.Errorf("Request().Body holds %q, want it empty", rep.Body)
			}
		})
	}
}

// What a session reports of its request is the creating request, over TLS
// and HTTP/2 as deployed: later requests of the session with other query,
// cookies, headers and identity change none of it.
func TestSessionRequestFixedAtCreation(t *testing.T) {
	h := sockjs.NewHandler(sockjs.Options{}, reportApp)
	srv := httptest.NewUnstartedServer(withUser(http.StripPrefix("/x", h)))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) }) // first: the session would outlive the test
	c := srv.Client()
	post := func(path, body, user, cookie string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/x/0/s1/"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-User", user)
		req.Header.Set("Cookie", "a="+cookie)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("served over %s, want HTTP/2", resp.Proto)
		}
		return string(b)
	}
	if got := post("xhr?token=first", "", "alice", "1"); got != "o\n" {
		t.Fatalf("opening poll: %q", got)
	}
	post("xhr_send?token=second", `["go"]`, "mallory", "2")
	got := post("xhr?token=third", "", "eve", "3")
	var rep []string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(got), "a")), &rep); err != nil || len(rep) != 1 {
		t.Fatalf("poll %q: %v", got, err)
	}
	var r requestReport
	if err := json.Unmarshal([]byte(rep[0]), &r); err != nil {
		t.Fatal(err)
	}
	want := requestReport{
		Transport: "xhr", User: "alice", ReqUser: "alice", Path: "/0/s1/xhr", Token: "first",
		Cookie: "1", Header: "alice", RemoteAddr: r.RemoteAddr, TLS: true, Proto: 2,
	}
	if r != want {
		t.Errorf("session reports\n%+v\nwant the creating request's\n%+v", r, want)
	}
}

// The session's context, values and all, is cancelled when the session
// closes.
func TestSessionContextCancelledOnClose(t *testing.T) {
	done := make(chan any, 1)
	srv := appServer(t, sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		_ = s.Close(4000, "bye")
		select {
		case <-ctx.Done():
			done <- ctx.Value(userKey{})
		case <-time.After(scenarioWait):
			done <- "context not cancelled"
		}
	})
	resp, err := http.Post(srv.URL+"/x/0/s2/xhr", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := <-done; v != nil {
		t.Fatalf("after close: %v", v)
	}
}
