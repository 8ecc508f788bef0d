package sockjs_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// Sizes of the hostile-sender memory test: 64 parallel sends of one
// ~900 KiB message each, at a session whose application never reads.
const (
	floodSenders = 64
	floodMessage = 900 << 10
)

// floodCase is one way of sending the flood: over the HTTP sending
// endpoints (one request per message) or over a websocket.
type floodCase struct {
	name string
	h2   bool // over HTTP/2 with TLS, every send a stream of one connection
	// flood sends n copies of payload (one JSON array of one message) to
	// the session at base (".../x/0/<sid>") and returns when each is sent or
	// refused; ctx ends it.
	flood func(ctx context.Context, t *testing.T, c *http.Client, base string, payload []byte, n int)
}

var floodCases = []floodCase{
	{"xhr_send", false, func(ctx context.Context, t *testing.T, c *http.Client, base string, payload []byte, n int) {
		floodPosts(ctx, c, base+"/xhr_send", "text/plain", payload, n)
	}},
	{"xhr_send over HTTP/2", true, func(ctx context.Context, t *testing.T, c *http.Client, base string, payload []byte, n int) {
		floodPosts(ctx, c, base+"/xhr_send", "text/plain", payload, n)
	}},
	{"jsonp_send", false, func(ctx context.Context, t *testing.T, c *http.Client, base string, payload []byte, n int) {
		floodPosts(ctx, c, base+"/jsonp_send", "application/x-www-form-urlencoded", payload, n)
	}},
	{"websocket", false, func(ctx context.Context, t *testing.T, c *http.Client, base string, payload []byte, n int) {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/websocket", nil)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer ws.Close()
		stop := context.AfterFunc(ctx, func() { ws.Close() })
		defer stop()
		for range n {
			if ws.WriteMessage(websocket.TextMessage, payload) != nil {
				return
			}
		}
	}},
}

// floodPosts fires n POSTs of body to u at once and waits for their
// answers (or for ctx).
func floodPosts(ctx context.Context, c *http.Client, u, contentType string, body []byte, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

// heapInUse returns the heap in use after a collection.
func heapInUse() (inuse, total uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.TotalAlloc
}

// A client that floods a session whose application does not read must not
// grow the server's memory past a small multiple of MaxInboxBytes: the
// server holds the inbox, and at most one send in hand (its body and its
// decoded messages), while the others wait unread. The bound is asserted
// on the peak heap in use seen while the flood is held up (sampled for 2 s
// after every sender is under way), and on the bytes allocated in that
// time. Before sends were bounded, xhr_send grew the heap by 63 MiB here
// and allocated 190 MiB.
// It is not parallel: it measures the whole process.
func TestFloodOfSendsKeepsMemoryBounded(t *testing.T) {
	for _, tc := range floodCases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var sends atomic.Int32
			h := sockjs.NewHandler(sockjs.Options{AllowJSONP: true}, func(ctx context.Context, s *sockjs.Session) {
				select { // never reads until the test is done
				case <-release:
				case <-ctx.Done():
				}
			})
			srv := httptest.NewUnstartedServer(http.StripPrefix("/x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "_send") {
					sends.Add(1)
				}
				h.ServeHTTP(w, r)
			})))
			var c *http.Client
			if tc.h2 {
				srv.EnableHTTP2 = true
				// Go's HTTP/2 client keeps a scratch buffer per stream of up
				// to the frame size the server allows (512 KiB by default):
				// 32 MiB of this process for 64 streams, on the client's side.
				// Small frames keep the measure to the server's.
				srv.Config.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: 16 << 10}
				srv.StartTLS()
				c = srv.Client()
				c.Timeout = 30 * time.Second
			} else {
				srv.Start()
				tr := &http.Transport{MaxIdleConnsPerHost: floodSenders}
				defer tr.CloseIdleConnections()
				c = &http.Client{Transport: tr, Timeout: 30 * time.Second}
			}
			defer srv.Close()
			defer h.Shutdown(context.Background())

			base := srv.URL + "/x/0/" + newSID()
			if tc.name != "websocket" {
				if code, body := post(t, c, base+"/xhr", "text/plain", ""); code != http.StatusOK || body != "o\n" {
					t.Fatalf("opening poll: %d %q", code, body)
				}
			}
			payload := []byte(`["` + strings.Repeat("x", floodMessage) + `"]`)
			if tc.name == "jsonp_send" {
				payload = []byte("d=" + url.QueryEscape(string(payload)))
			}

			inuse0, total0 := heapInUse()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.flood(ctx, t, c, base, payload, floodSenders)
			}()
			if tc.name != "websocket" {
				pollUntil(t, "every send to reach the handler", func() bool { return sends.Load() == floodSenders })
			}
			// Sample for a while: enough for a server that reads every body
			// to have read them all.
			var peak uint64
			for range 20 {
				inuse, _ := heapInUse()
				peak = max(peak, inuse)
				time.Sleep(100 * time.Millisecond)
			}
			_, total := heapInUse()
			close(release)
			cancel()
			<-done

			growth := int64(peak) - int64(inuse0)
			allocated := int64(total - total0)
			t.Logf("%s: %d sends of %d KiB: peak heap growth %.1f MiB, allocated %.1f MiB (MaxInboxBytes %d MiB)",
				tc.name, floodSenders, floodMessage>>10, float64(growth)/(1<<20), float64(allocated)/(1<<20), sockjs.DefaultMaxInboxBytes>>20)
			// The inbox (1x), one send in hand (its body and decoded
			// messages; jsonp_send's form decoding copies the body twice
			// more), and the client's side of 64 connections.
			if limit := int64(6 * sockjs.DefaultMaxInboxBytes); growth > limit {
				t.Errorf("heap grew by %d bytes during the flood, want at most %d (6 x MaxInboxBytes)", growth, limit)
			}
			// Reading every body would allocate at least 64 x 900 KiB; one
			// send in hand allocates a few copies of one (jsonp_send's form
			// decoding makes the most), and the client its connections.
			if limit := int64(16 * sockjs.DefaultMaxInboxBytes); allocated > limit {
				t.Errorf("%d bytes allocated during the flood, want at most %d (16 x MaxInboxBytes)", allocated, limit)
			}
		})
	}
}

// post posts body to u and returns the status and the body read in full.
func post(t *testing.T, c *http.Client, u, contentType, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// pollUntil polls cond until it holds, failing the test after 10 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
