package transports

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pollWaiting is how many watches the shared poller holds.
func pollWaiting() int {
	p := sharedPoller()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// awaitPollWaiting waits until the shared poller holds n watches.
func awaitPollWaiting(t *testing.T, n int, what string) {
	t.Helper()
	for start := time.Now(); pollWaiting() != n; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: the poller holds %d watches, want %d", what, pollWaiting(), n)
		}
	}
}

// TestWebSocketReaderParksAfterQuietAndReadsOn: a websocket waits in the
// poller, reads in a goroutine while its client sends, parks again once
// the client is quiet (evict cuts the goroutine's wait short), and still
// reads every message after each of those changes.
func TestWebSocketReaderParksAfterQuietAndReadsOn(t *testing.T) {
	s := allocTransportSession(t)
	c := allocConfig()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c.RawWebSocket(oneSession{s}, rw, r)
	}))
	t.Cleanup(srv.Close)
	base := pollWaiting()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	awaitPollWaiting(t, base+1, "after the handshake")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for round, burst := range []int{1, 3, 1} {
		for i := range burst {
			msg := strings.Repeat("m", round*10+i+1)
			if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Recv(ctx)
			if err != nil || got != msg {
				t.Fatalf("round %d: Recv = %q, %v; want %q", round, got, err, msg)
			}
		}
		awaitPollWaiting(t, base+1, "once the client is quiet")
	}
}
