package sockjs_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
)

// TestIdleWebSocketHoldsOnlyItsReader: once its handshake is done, an idle
// websocket session costs two goroutines, the connection's reader and the
// application's handler; the request's goroutine has returned and no
// writer waits (one starts only when there is something to write). A
// third goroutine per session (as the request's goroutine, kept as the
// writer, used to be) costs about 8 KiB of stack for every idle session.
// The sessions still work after: heartbeats off, a broadcast reaches each.
func TestIdleWebSocketHoldsOnlyItsReader(t *testing.T) {
	for _, tc := range []struct {
		name, path, open, want string
	}{
		{"websocket", "/app/000/%d/websocket", "o", `a["hello"]`},
		{"raw websocket", "/app/websocket", "", "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 40
			started := make(chan struct{}, n)
			f := newAppFixture(t, sockjs.Options{RawWebSocket: true}, func(ctx context.Context, s *sockjs.Session) {
				started <- struct{}{}
				<-ctx.Done()
			})
			before := runtime.NumGoroutine()
			conns := make([]*websocket.Conn, 0, n)
			for i := range n {
				path := tc.path
				if tc.open != "" {
					path = fmt.Sprintf(tc.path, i)
				}
				c := dialWS(t, f.addr, path)
				if tc.open != "" {
					wsExpect(t, c, tc.open)
				}
				waitFor(t, started, "the session's handler")
				conns = append(conns, c)
			}
			// Writers that sent the open frame end on their own; give them
			// a moment, then count. The slack is for the handler's own
			// goroutines (its timer wheel), started with the first session.
			const slack = 4
			var delta int
			for range 100 {
				delta = runtime.NumGoroutine() - before
				if delta <= 2*n+slack {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if delta > 2*n+slack {
				t.Fatalf("%d idle sessions hold %d goroutines (%.1f each); want at most 2 each (reader, handler)", n, delta, float64(delta)/n)
			}
			if delta < n {
				t.Fatalf("%d idle sessions hold only %d goroutines; the handlers alone are %d: the count is wrong", n, delta, n)
			}
			f.echo.Broadcast("hello")
			for _, c := range conns {
				wsExpect(t, c, tc.want)
			}
		})
	}
}
