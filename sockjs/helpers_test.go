package sockjs_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

type nameKey struct{}

// Range sees the open sessions, public, with their values; closed ones
// are skipped though Len still counts them.
func TestRangeAndValues(t *testing.T) {
	t.Parallel()
	started := make(chan *sockjs.Session, 3)
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		s.Set(nameKey{}, "user-"+s.ID())
		started <- s
		<-ctx.Done()
	})
	defer shutdown(t, h)
	for _, id := range []string{"a", "b", "c"} {
		h.Open(id, "xhr", httptest.NewRequest("POST", "/0/"+id+"/xhr", nil))
	}
	var byID = map[string]*sockjs.Session{}
	for range 3 {
		s := <-started
		byID[s.ID()] = s
	}
	_ = byID["b"].Close(4000, "gone")
	var names []string
	h.Range(func(s *sockjs.Session) bool {
		names = append(names, s.Get(nameKey{}).(string))
		return true
	})
	slices.Sort(names)
	if !slices.Equal(names, []string{"user-a", "user-c"}) {
		t.Errorf("Range saw %v, want the open sessions user-a and user-c", names)
	}
	if n := h.Len(); n != 3 {
		t.Errorf("Len() = %d, want 3 (b is closed but remembered)", n)
	}
	seen := 0
	h.Range(func(*sockjs.Session) bool { seen++; return false })
	if seen != 1 {
		t.Errorf("Range went on after f returned false: %d calls", seen)
	}
	if v := byID["a"].Get("missing"); v != nil {
		t.Errorf("Get of an unset key = %v", v)
	}
}

type chatMsg struct {
	User string `json:"user"`
	Text string `json:"text"`
}

// SendJSON and RecvJSON carry Go values; a message that is not the JSON
// expected is an ErrBadJSON error and leaves the session open.
func TestSendRecvJSON(t *testing.T) {
	t.Parallel()
	srv := appServer(t, sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		for {
			var m chatMsg
			err := s.RecvJSON(ctx, &m)
			switch {
			case errors.Is(err, sockjs.ErrBadJSON):
				_ = s.SendJSON(map[string]string{"error": "bad"})
				continue
			case err != nil:
				return
			}
			m.Text += "!"
			_ = s.SendJSON(m)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), scenarioWait)
	defer cancel()
	p, err := dialSockJSWebSocket(ctx, srv.URL+"/x")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tt := range []struct{ in, want string }{
		{`{"user":"ann","text":"hi"}`, `{"user":"ann","text":"hi!"}`},
		{`not json`, `{"error":"bad"}`},
		{`{"user":"bob","text":"<b>"}`, `{"user":"bob","text":"\u003cb\u003e!"}`},
	} {
		if err := p.Send(tt.in); err != nil {
			t.Fatal(err)
		}
		ev, err := p.Next(scenarioWait)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Msg != tt.want {
			t.Errorf("sent %s, got %s, want %s", tt.in, ev.Msg, tt.want)
		}
	}
}
