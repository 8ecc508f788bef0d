package rrproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func backend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.WriteMessage(websocket.TextMessage, []byte(name))
			return
		}
		if r.URL.Path == "/stream" {
			_, _ = io.WriteString(w, name+"-first\n")
			http.NewResponseController(w).Flush()
			<-release // the second chunk waits until the test ends
			_, _ = io.WriteString(w, name+"-second\n")
			return
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) }) // runs before s.Close
	return s
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func TestEveryRequestGoesToTheNextBackend(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	p := Start(t, a.URL, b.URL, c.URL)
	var got []string
	for range 6 {
		got = append(got, get(t, p.URL+"/"))
	}
	if s := strings.Join(got, ""); s != "abcabc" {
		t.Fatalf("backends in order %q, want abcabc", s)
	}
	for i, n := range p.Served() {
		if n != 2 {
			t.Fatalf("backend %d served %d requests, want 2", i, n)
		}
	}
}

func TestStreamsAreFlushedThrough(t *testing.T) {
	p := Start(t, backend(t, "a").URL)
	res, err := http.Get(p.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, len("a-first\n"))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(res.Body, first); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(first) != "a-first\n" {
			t.Fatalf("first chunk %q, %v", first, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first chunk was held back by the proxy (the backend holds the response open)")
	}
}

func TestWebsocketUpgradesAreProxied(t *testing.T) {
	p := Start(t, backend(t, "a").URL, backend(t, "b").URL)
	for _, want := range []string{"a", "b"} {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.URL, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.ReadMessage()
		c.Close()
		if err != nil || string(msg) != want {
			t.Fatalf("websocket via proxy got %q, %v; want %q", msg, err, want)
		}
	}
}

// A backend that refuses connections (down, restarting) is skipped, and
// the request with its body goes to the next one.
func TestRefusingBackendIsSkipped(t *testing.T) {
	a, c := backend(t, "a"), backend(t, "c")
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // its port now refuses connections
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	defer echo.Close()
	p := Start(t, a.URL, downURL, c.URL)
	var got []string
	for range 3 {
		got = append(got, get(t, p.URL+"/"))
	}
	if s := strings.Join(got, ""); s != "acc" {
		t.Fatalf("backends in order %q, want acc (the refusing one skipped)", s)
	}
	q := Start(t, downURL, echo.URL)
	res, err := http.Post(q.URL+"/", "text/plain", strings.NewReader("the body"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "the body" {
		t.Fatalf("replayed body %q", b)
	}
}

// A backend whose health check fails gets no request until it passes again.
func TestUnhealthyBackendGetsNothing(t *testing.T) {
	var sick atomic.Bool
	mk := func(name string, checked *atomic.Bool) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				if checked != nil && checked.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				return
			}
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := mk("a", nil), mk("b", &sick)
	p := Start(t, a.URL, b.URL)
	p.CheckHealth(t, "/healthz", 20*time.Millisecond)
	waitFor := func(want, alt string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got []string
			for range 4 {
				got = append(got, get(t, p.URL+"/"))
			}
			if s := strings.Join(got, ""); s == want || s == alt || time.Now().After(deadline) {
				if s != want && s != alt {
					t.Fatalf("backends answering %q, want %q", s, want)
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	sick.Store(true)
	waitFor("aaaa", "aaaa")
	for range 20 { // and it stays so, whatever the round-robin turn
		if s := get(t, p.URL+"/"); s != "a" {
			t.Fatalf("the unhealthy backend answered %q", s)
		}
	}
	sick.Store(false)
	waitFor("abab", "baba")
}
