package sockjs_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// receivingTransports are the transports whose delivery order the tests
// check; the polling and streaming ones reconnect as clients do.
var receivingTransports = []string{"xhr", "xhr_streaming", "websocket"}

// burstMessage is message i of a burst: numbered, of varying length.
func burstMessage(i int) string {
	return strconv.Itoa(i) + ":" + strings.Repeat("x", i%61)
}

// The application sends 5000 messages in one burst as soon as the session
// opens; every one arrives, in order. Over xhr_streaming the response
// limit is 4096 bytes, so the client reconnects many times on the way and
// nothing may be lost or reordered across responses.
func TestProtocolBurstOrdering(t *testing.T) {
	t.Parallel()
	const n = 5000
	f := newAppFixture(t, sockjs.Options{ResponseLimit: 4096}, func(ctx context.Context, s *sockjs.Session) {
		for i := range n {
			if err := s.Send(burstMessage(i)); err != nil {
				return
			}
		}
		<-ctx.Done()
	})
	for _, tr := range receivingTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			msgs := collect(t, f, tr, sessionBase("/app"), n)
			for i, m := range msgs {
				if want := burstMessage(i); m != want {
					t.Fatalf("message %d = %q; want %q", i, m, want)
				}
			}
		})
	}
}

// 16 goroutines of the application each send 200 numbered messages at
// once; every message arrives, and each sender's messages in the order it
// sent them.
func TestProtocolConcurrentSenders(t *testing.T) {
	t.Parallel()
	const senders, each = 16, 200
	f := newAppFixture(t, sockjs.Options{ResponseLimit: 4096}, func(ctx context.Context, s *sockjs.Session) {
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := range each {
					if s.Send(fmt.Sprintf("%d:%d", g, i)) != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		<-ctx.Done()
	})
	for _, tr := range receivingTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			msgs := collect(t, f, tr, sessionBase("/app"), senders*each)
			next := make([]int, senders)
			for k, m := range msgs {
				var g, i int
				if _, err := fmt.Sscanf(m, "%d:%d", &g, &i); err != nil || g < 0 || g >= senders {
					t.Fatalf("message %d = %q: not from a sender", k, m)
				}
				if i != next[g] {
					t.Fatalf("message %d = %q: sender %d's message %d came after its %d", k, m, g, i, next[g]-1)
				}
				next[g]++
			}
			for g, c := range next {
				if c != each {
					t.Fatalf("sender %d: %d messages; want %d", g, c, each)
				}
			}
		})
	}
}
