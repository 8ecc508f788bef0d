package prometheus_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
	"github.com/sockline/sockline/sockjs"
)

// serveEcho serves the echo service with a Metrics registered on reg and
// returns the service's URL; the handler and server stop with the test.
func serveEcho(t *testing.T, reg prometheus.Registerer, o sockjs.Options) (string, *sockjs.Handler) {
	t.Helper()
	url, h, _ := serveEchoMetrics(t, reg, o)
	return url, h
}

// serveEchoMetrics is serveEcho, and returns the Metrics too.
func serveEchoMetrics(t *testing.T, reg prometheus.Registerer, o sockjs.Options) (string, *sockjs.Handler, *sockjsprom.Metrics) {
	t.Helper()
	m, err := sockjsprom.New(reg, sockjsprom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.Events = m
	h := sockjs.NewHandler(o, echo)
	srv := httptest.NewServer(http.StripPrefix("/echo", h))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // before srv.Close
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return srv.URL + "/echo", h, m
}

// post sends a POST with body and returns the status and the body of the
// answer.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
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

// Received and sent bytes count the same unit, the message's text in UTF-8
// (what Recv returned, what Send was given), however JSON escapes it on the
// wire.
func TestMessageBytesUnits(t *testing.T) {
	for _, tt := range []struct {
		name    string
		msg     string
		text    float64 // len(msg): sockjs_received_utf8_bytes_total
		encoded float64 // its JSON encoding on the wire, which neither counter counts
	}{
		{"ASCII", "hi", 2, 2 + 2},
		{"quotes", `say "hi"`, 8, 2 + 8 + 2},
		{"backslash", `a\b`, 3, 2 + 3 + 1},
		{"JSON", `{"n":1}`, 7, 2 + 7 + 2},
		{"non-ASCII", "yé", 3, 2 + 3},
		{"line separator", "a\u2028b", 5, 2 + 1 + 6 + 1},
		{"control character", "a\x01", 2, 2 + 1 + 6},
		{"emoji", "😀", 4, 2 + 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			url, _ := serveEcho(t, reg, sockjs.Options{})
			if code, body := post(t, url+"/0/s/xhr", ""); code != http.StatusOK || body != "o\n" {
				t.Fatalf("open: %d %q", code, body)
			}
			send, _ := json.Marshal([]string{tt.msg})
			if code, body := post(t, url+"/0/s/xhr_send", string(send)); code != http.StatusNoContent {
				t.Fatalf("xhr_send: %d %q", code, body)
			}
			code, body := post(t, url+"/0/s/xhr", "")
			if code != http.StatusOK || !strings.HasPrefix(body, "a[") || !strings.HasSuffix(body, "]\n") {
				t.Fatalf("poll: %d %q", code, body)
			}
			wire := body[len("a[") : len(body)-len("]\n")]
			var echoed string
			if err := json.Unmarshal([]byte(wire), &echoed); err != nil || echoed != tt.msg {
				t.Fatalf("poll: %q is not the message %q (%v)", wire, tt.msg, err)
			}
			if float64(len(wire)) != tt.encoded {
				t.Fatalf("the message went as %q, %d bytes; the test expects %v", wire, len(wire), tt.encoded)
			}
			xhr := map[string]string{"transport": "xhr"}
			waitValue(t, reg, "sockjs_received_utf8_bytes_total", xhr, tt.text)
			waitValue(t, reg, "sockjs_sent_utf8_bytes_total", xhr, tt.text)
			waitValue(t, reg, "sockjs_messages_received_total", xhr, 1)
			waitValue(t, reg, "sockjs_messages_sent_total", xhr, 1)
		})
	}
}

// A second receiving request while one is attached is answered 2010 and
// counted as a receiver conflict.
func TestReceiverConflictCounted(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	url, _ := serveEcho(t, reg, sockjs.Options{})
	if code, body := post(t, url+"/0/s/xhr", ""); code != http.StatusOK || body != "o\n" {
		t.Fatalf("open: %d %q", code, body)
	}
	// Two polls at once: whichever comes second is refused, the other
	// waits for a message.
	polls := make(chan string, 2)
	for range 2 {
		go func() {
			resp, err := http.Post(url+"/0/s/xhr", "text/plain", nil)
			if err != nil {
				polls <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			polls <- string(b)
		}()
	}
	const refused = `c[2010,"Another connection still open"]` + "\n"
	if got := <-polls; got != refused {
		t.Fatalf("first answer: %q, want %q", got, refused)
	}
	waitValue(t, reg, "sockjs_receiver_conflicts_total", map[string]string{"transport": "xhr"}, 1)
	if code, body := post(t, url+"/0/s/xhr_send", `["ping"]`); code != http.StatusNoContent {
		t.Fatalf("xhr_send: %d %q", code, body)
	}
	if got := <-polls; got != `a["ping"]`+"\n" {
		t.Fatalf("attached poll: %q", got)
	}
}
