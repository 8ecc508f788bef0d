//go:build !race

// The race detector's instrumentation allocates: these counts hold
// without it.

package transports

import (
	"testing"

	"github.com/sockline/sockline/internal/frame"
)

// The streaming transports' write loop allocates nothing per message in
// steady state: Next reuses the receiver's frame buffer, the envelope
// reuses the response's, and the timed write and flush allocate nothing.
// htmlfile quotes each frame straight from its bytes
// (frame.AppendQuoteHTMLBytes). The counts are the whole process's, the
// serving goroutine's included.
func TestAllocsStreamingWrite(t *testing.T) {
	q := frame.Quote(allocTransportMsg)
	for _, tr := range streamingTransports {
		const want = 0.0
		s := allocTransportSession(t)
		w := startStreaming(t, s, tr.serve, tr.name)
		f := func() {
			if err := s.SendQuoted(q); err != nil {
				t.Fatal(err)
			}
			awaitMessages(w.wrote, 1)
		}
		for range 3 {
			f()
		}
		if got := testing.AllocsPerRun(100, f); got > want {
			t.Errorf("%s: %v allocations per message, want at most %v", tr.name, got, want)
		}
	}
}
