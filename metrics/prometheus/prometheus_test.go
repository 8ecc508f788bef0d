package prometheus_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
	"github.com/sockline/sockline/sockjs"
)

const wait = 10 * time.Second

// scrape fetches url and returns every sample of the text exposition,
// keyed by name{labels} as written.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	samples := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// scrapeUntil scrapes until cond holds for the samples, so that events from
// other goroutines (a close seen by the server after the client's) land.
func scrapeUntil(t *testing.T, url string, cond func(map[string]float64) error) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s := scrape(t, url)
		err := cond(s)
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // metrics have no change notification
	}
}

func echo(ctx context.Context, s *sockjs.Session) {
	for {
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if msg == "bye" {
			_ = s.Close(4000, "bye")
			return
		}
		_ = s.Send(msg)
	}
}

// Real sessions over xhr and websocket, a refused origin and a refused
// authorization, then the adapter's output through promhttp.
func TestScrapeAfterRealSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := sockjsprom.MustNew(reg, sockjsprom.Options{ConstLabels: prometheus.Labels{"handler": "echo"}})
	h := sockjs.NewHandler(sockjs.Options{
		Events: m,
		Authorize: func(r *http.Request) (context.Context, error) {
			if r.URL.Query().Get("deny") != "" {
				return nil, sockjs.ErrUnauthorized
			}
			return r.Context(), nil
		},
	}, echo)
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", h))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = h.Shutdown(ctx)
	}()

	post := func(path, body string, hdr ...string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/echo"+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	// An xhr session: two messages each way, then closed by the app.
	if got := post("/0/a/xhr", ""); got != "200 o\n" {
		t.Fatalf("open: %q", got)
	}
	post("/0/a/xhr_send", `["hi","yé"]`)
	if got := post("/0/a/xhr", ""); got != "200 a[\"hi\",\"yé\"]\n" {
		t.Fatalf("poll: %q", got)
	}
	// A websocket that stays open.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/echo/0/b/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "o" {
		t.Fatalf("websocket open: %q %v", msg, err)
	}
	// Refusals.
	if got := post("/0/c/xhr?deny=1", ""); !strings.HasPrefix(got, "401") {
		t.Fatalf("denied: %q", got)
	}
	if got := post("/0/d/xhr", "", "Origin", "https://evil.example"); !strings.HasPrefix(got, "403") {
		t.Fatalf("foreign origin: %q", got)
	}

	// Mid-flight: one session open per transport.
	scrapeUntil(t, srv.URL+"/metrics", func(s map[string]float64) error {
		return expect(s, map[string]float64{
			`sockjs_sessions_open{handler="echo",transport="xhr"}`:       1,
			`sockjs_sessions_open{handler="echo",transport="websocket"}`: 1,
		})
	})
	post("/0/a/xhr_send", `["bye"]`)
	post("/0/a/xhr", "") // takes the close frame

	scrapeUntil(t, srv.URL+"/metrics", func(s map[string]float64) error {
		return expect(s, map[string]float64{
			`sockjs_sessions_open{handler="echo",transport="xhr"}`:                             0,
			`sockjs_sessions_open{handler="echo",transport="websocket"}`:                       1,
			`sockjs_sessions_opened_total{handler="echo",transport="xhr"}`:                     1,
			`sockjs_sessions_opened_total{handler="echo",transport="websocket"}`:               1,
			`sockjs_sessions_closed_total{cause="server",handler="echo",transport="xhr"}`:      1,
			`sockjs_sessions_closed_total{cause="client",handler="echo",transport="xhr"}`:      0,
			`sockjs_session_duration_seconds_count{handler="echo",transport="xhr"}`:            1,
			`sockjs_session_duration_seconds_bucket{handler="echo",transport="xhr",le="+Inf"}`: 1,
			`sockjs_messages_received_total{handler="echo",transport="xhr"}`:                   3,
			`sockjs_received_utf8_bytes_total{handler="echo",transport="xhr"}`:                 2 + 3 + 3,
			`sockjs_messages_sent_total{handler="echo",transport="xhr"}`:                       2,
			`sockjs_sent_utf8_bytes_total{handler="echo",transport="xhr"}`:                     2 + 3,
			`sockjs_authorization_refused_total{handler="echo",transport="xhr"}`:               1,
			`sockjs_origin_refused_total{handler="echo"}`:                                      1,
			`sockjs_receiver_conflicts_total{handler="echo",transport="xhr"}`:                  0,
		})
	})
}

// expect reports the first sample that is missing or differs.
func expect(samples, want map[string]float64) error {
	var errs []error
	for k, v := range want {
		got, ok := samples[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("no sample %s", k))
		case got != v:
			errs = append(errs, fmt.Errorf("%s = %v, want %v", k, got, v))
		}
	}
	return errors.Join(errs...)
}

// A second Metrics on the same registry needs another value of the same
// ConstLabels; with the same, New fails with the registry's error wrapped.
func TestNewTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := sockjsprom.New(reg, sockjsprom.Options{ConstLabels: prometheus.Labels{"handler": "echo"}}); err != nil {
		t.Fatal(err)
	}
	_, err := sockjsprom.New(reg, sockjsprom.Options{ConstLabels: prometheus.Labels{"handler": "echo"}})
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second New with the same labels: %v, want an AlreadyRegisteredError", err)
	}
	if _, err := sockjsprom.New(reg, sockjsprom.Options{ConstLabels: prometheus.Labels{"handler": "chat"}}); err != nil {
		t.Fatalf("second New with its own ConstLabels: %v", err)
	}
}
