package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// countingServer serves an echo handler that counts the sessions its
// application runs: open now, and started in all.
func countingServer(t *testing.T) (url string, open, started *atomic.Int64) {
	t.Helper()
	open, started = new(atomic.Int64), new(atomic.Int64)
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		started.Add(1)
		open.Add(1)
		defer open.Add(-1)
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
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL, open, started
}

// markWatcher is bench's stderr: on the line "idle: N open" it records N
// and how many sessions the server's application has open (waiting up to
// a second for it to catch up, as the sessions are held for longer).
type markWatcher struct {
	open *atomic.Int64

	mu        sync.Mutex
	buf       bytes.Buffer
	announced int
	serverHad int64
	seen      bool
}

func (m *markWatcher) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf.Write(p)
	for _, line := range strings.Split(string(p), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, markIdleOpen, &n); err == nil {
			m.seen, m.announced = true, n
			for i := 0; i < 100 && m.open.Load() != int64(n); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			m.serverHad = m.open.Load()
		}
	}
	return len(p), nil
}

func TestBenchIdle(t *testing.T) {
	url, open, _ := countingServer(t)
	for _, tr := range []string{"websocket", "xhr-streaming", "eventsource"} {
		t.Run(tr, func(t *testing.T) {
			w := &markWatcher{open: open}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out bytes.Buffer
			code := run(ctx, []string{"bench", "-json", "-mode", "idle", "-t", tr, "-n", "120", "-d", "1500ms", url}, nil, &out, w)
			var s benchSummary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil || code != 0 {
				t.Fatalf("exit %d, %v; stdout %s stderr %s", code, err, out.String(), w.buf.String())
			}
			if s.Connected != 120 || s.Opens != 120 || s.Errors != 0 || s.Dropped != 0 || s.Sent != 0 {
				t.Fatalf("summary %+v: want 120 sessions opened, held and never written to", s)
			}
			if s.OpenP50ms <= 0 || s.OpenP99ms < s.OpenP50ms || s.OpenMaxMs < s.OpenP99ms {
				t.Fatalf("summary %+v: opening latencies make no sense", s)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if !w.seen || w.announced != 120 || w.serverHad != 120 {
				t.Fatalf("stderr %q: want \"idle: 120 open\" while the server holds 120 sessions (it held %d)", w.buf.String(), w.serverHad)
			}
			if !strings.Contains(w.buf.String(), markIdleClosing) {
				t.Fatalf("stderr %q: no %q", w.buf.String(), markIdleClosing)
			}
		})
	}
}

func TestBenchChurn(t *testing.T) {
	url, _, started := countingServer(t)
	tests := []struct {
		transport string
		openers   string
	}{
		{"websocket", "4"},
		{"xhr-streaming", "2"},
		{"eventsource", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			before := started.Load()
			s, progress := bench(t, "-mode", "churn", "-t", tt.transport, "-n", tt.openers, "-d", "700ms", url)
			if s.Opens == 0 || s.Errors != 0 || s.OpensPerSec <= 0 || s.Connected != int(s.Opens) {
				t.Fatalf("summary %+v: want sessions opened without errors", s)
			}
			if s.OpenP50ms <= 0 || s.OpenP99ms < s.OpenP50ms || s.OpenMaxMs < s.OpenP99ms {
				t.Fatalf("summary %+v: opening latencies make no sense", s)
			}
			// Every session counted was a session of the application. The
			// handler of the last one may start just after its open frame
			// went out: give it a moment.
			deadline := time.Now().Add(5 * time.Second)
			for started.Load()-before < int64(s.Opens) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := started.Load() - before; got < int64(s.Opens) {
				t.Fatalf("the server started %d sessions, bench counted %d opens", got, s.Opens)
			}
			if !strings.Contains(progress, markMeasuring) || !strings.Contains(progress, markMeasured) {
				t.Fatalf("stderr %q: want the measuring marks", progress)
			}
		})
	}
}

func TestBenchMarks(t *testing.T) {
	url, _, _ := countingServer(t)
	for _, mode := range []string{"echo", "broadcast"} {
		t.Run(mode, func(t *testing.T) {
			_, progress := bench(t, "-mode", mode, "-n", "2", "-d", "300ms", "-drain", "200ms", url)
			i, j := strings.Index(progress, markMeasuring), strings.Index(progress, markMeasured)
			if i < 0 || j < i {
				t.Fatalf("stderr %q: want %q, then %q", progress, markMeasuring, markMeasured)
			}
		})
	}
}
