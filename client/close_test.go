package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/sockjs"
)

// echoServer is a Sockline echo handler under /echo on an httptest server;
// ended receives once per session whose handler returned, which it does
// when the session closes.
type echoServer struct {
	URL string
	// Client is the httptest server's: over TLS, the one that trusts its
	// certificate.
	Client *http.Client
	ended  chan struct{}
}

// startEcho starts an echoServer, over TLS when tls is set.
func startEcho(t *testing.T, tls bool) *echoServer {
	t.Helper()
	ended := make(chan struct{}, 16)
	// A short DisconnectDelay: a poller closed between two polls leaves no
	// request to abort, and the server ends its session after that delay.
	h := sockjs.NewHandler(sockjs.Options{Prefix: "/echo", DisconnectDelay: 500 * time.Millisecond}, func(ctx context.Context, s *sockjs.Session) {
		defer func() { ended <- struct{}{} }()
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			if s.Send(m) != nil {
				return
			}
		}
	})
	ts := httptest.NewUnstartedServer(h)
	if tls {
		// A test of a wrong certificate makes the server log each handshake.
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
	} else {
		ts.Start()
	}
	hc := ts.Client()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
		hc.CloseIdleConnections()
	})
	return &echoServer{URL: ts.URL, Client: hc, ended: ended}
}

// waitEnded fails the test unless the server's session ends within a
// bound far above any normal delay (the bound is no speed check: without
// the close the session lives on, its streams or polls still running).
func (s *echoServer) waitEnded(t *testing.T, what string) {
	t.Helper()
	select {
	case <-s.ended:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the server's session is still open; the client did not release it", what)
	}
}

// TestCloseRefusedCode checks that Close with a code sockjs-client refuses
// (or a reason too long for a close frame) still ends the session, with
// 1000, and says what it accepts: a deferred Close must never leak the
// session.
func TestCloseRefusedCode(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		code       int
		reason     string
		errSays    string // in Close's error
		wantReason string // of the CloseError Recv returns
	}{
		{1001, "going away", "use 1000 or 3000-4999", "going away"},
		{0, "", "use 1000 or 3000-4999", ""},
		{2000, "x", "use 1000 or 3000-4999", "x"},
		{5000, "x", "use 1000 or 3000-4999", "x"},
		{1000, long, "at most 123", long[:122]},
		{4000, long, "at most 123", long[:122]},
	}
	for _, tr := range allTransports {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d/%dB", tr, tt.code, len(tt.reason)), func(t *testing.T) {
				s := startEcho(t, false)
				c, err := client.Dial(recvCtx(t), s.URL+"/echo", &client.Options{Transports: []string{tr}, HTTPClient: s.Client})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close(1000, "") })
				echoAll(t, c, []string{"before the close"})

				err = c.Close(tt.code, tt.reason)
				if err == nil || !strings.Contains(err.Error(), tt.errSays) {
					t.Errorf("Close(%d, %d bytes) = %v, want an error saying %q", tt.code, len(tt.reason), err, tt.errSays)
				}
				s.waitEnded(t, "after Close with a refused code")
				wantCode := tt.code
				if tt.errSays != "at most 123" {
					wantCode = 1000
				}
				_, err = c.Recv(recvCtx(t))
				var ce *client.CloseError
				if !errors.As(err, &ce) || !errors.Is(err, client.ErrClosed) || ce.Code != wantCode || ce.Reason != tt.wantReason {
					t.Errorf("Recv after Close = %v, want a CloseError %d %.20q ErrClosed", err, wantCode, tt.wantReason)
				}
				if err := c.Send("late"); !errors.Is(err, client.ErrClosed) {
					t.Errorf("Send after Close = %v, want ErrClosed", err)
				}
				if err := c.Close(1000, ""); !errors.As(err, &ce) || ce.Code != wantCode {
					t.Errorf("Close again = %v, want the first CloseError", err)
				}
			})
		}
	}
}
