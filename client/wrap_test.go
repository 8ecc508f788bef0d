package client_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/client"
)

// wrapper is a RoundTripper around another, as logging or auth wrappers
// are, counting its round trips; it has no Unwrap method.
type wrapper struct {
	next  http.RoundTripper
	trips atomic.Int32
}

func (w *wrapper) RoundTrip(r *http.Request) (*http.Response, error) {
	w.trips.Add(1)
	return w.next.RoundTrip(r)
}

// unwrapper is a wrapper with Unwrap.
type unwrapper struct{ wrapper }

func (u *unwrapper) Unwrap() http.RoundTripper { return u.next }

// TestWrappedTransport checks that the websocket takes its TLS settings
// and proxy from the *http.Transport under wrappers of
// Options.HTTPClient's Transport, found through Unwrap.
func TestWrappedTransport(t *testing.T) {
	tests := []struct {
		name    string
		wrap    func(http.RoundTripper) (http.RoundTripper, *atomic.Int32)
		dialer  func(s *echoServer) *websocket.Dialer
		errSays string // Dial must fail saying this; "" when it must connect
	}{
		{"wrapper with Unwrap", func(rt http.RoundTripper) (http.RoundTripper, *atomic.Int32) {
			w := &unwrapper{wrapper{next: rt}}
			return w, &w.trips
		}, nil, ""},
		{"two wrappers with Unwrap", func(rt http.RoundTripper) (http.RoundTripper, *atomic.Int32) {
			w := &unwrapper{wrapper{next: &unwrapper{wrapper{next: rt}}}}
			return w, &w.trips
		}, nil, ""},
		{"wrapper without Unwrap", func(rt http.RoundTripper) (http.RoundTripper, *atomic.Int32) {
			w := &wrapper{next: rt}
			return w, &w.trips
		}, nil, "Unwrap"},
		{"wrapper without Unwrap, Options.Dialer", func(rt http.RoundTripper) (http.RoundTripper, *atomic.Int32) {
			w := &wrapper{next: rt}
			return w, &w.trips
		}, func(s *echoServer) *websocket.Dialer {
			return &websocket.Dialer{TLSClientConfig: s.Client.Transport.(*http.Transport).TLSClientConfig}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startEcho(t, true)
			inner := s.Client.Transport.(*http.Transport).Clone()
			t.Cleanup(inner.CloseIdleConnections)
			var wsProxied atomic.Int32
			inner.Proxy = func(r *http.Request) (*url.URL, error) {
				if strings.HasSuffix(r.URL.Path, "/websocket") {
					wsProxied.Add(1)
				}
				return nil, nil // direct
			}
			rt, trips := tt.wrap(inner)
			opts := &client.Options{Transports: []string{client.WebSocket}, HTTPClient: &http.Client{Transport: rt}}
			if tt.dialer != nil {
				opts.Dialer = tt.dialer(s)
			}
			c, err := client.Dial(recvCtx(t), s.URL+"/echo", opts)
			if tt.errSays != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSays) {
					t.Fatalf("Dial = %v, want an error saying %q", err, tt.errSays)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial over websocket: %v", err)
			}
			defer c.Close(1000, "")
			echoAll(t, c, []string{"over wss"})
			if trips.Load() == 0 {
				t.Error("/info did not go through the wrapper")
			}
			if tt.dialer == nil && wsProxied.Load() == 0 {
				t.Error("the websocket dial did not ask the inner transport's Proxy")
			}
		})
	}
}
