package run

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockline/sockline/sockjs"
)

// Until, once its context ends, closes SockJS sessions before the server
// (a streaming client gets the close frame and a clean end) and returns nil,
// leaving no goroutine.
func TestUntilShutsDownHandlersFirst(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, _ *sockjs.Session) { <-ctx.Done() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Until(ctx, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln, h.Shutdown)
	}()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("http://"+ln.Addr().String()+"/0/"+rand.Text()+"/xhr_streaming", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{strings.Repeat("h", 2048) + "\n", "o\n"} {
		if l, err := br.ReadString('\n'); l != want {
			t.Fatalf("stream: %q, %v; want %q", l, err, want)
		}
	}
	cancel()
	if l, err := br.ReadString('\n'); l != `c[1001,"Server is shutting down"]`+"\n" {
		t.Fatalf("stream: %q, %v; want the shutdown close frame", l, err)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the close frame: %q, %v; want a clean end", rest, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Until = %v; want nil", err)
		}
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("Until did not return")
	}
}

// A listener that fails is reported at once, not waited on.
func TestUntilReportsServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Until(context.Background(), &http.Server{ReadHeaderTimeout: time.Second}, ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Until on a closed listener = %v; want its error", err)
	}
}

// A proxy's kept-alive connections opened before the shutdown keep being
// served, one request each, after the listener has closed: the server closes
// them only once no request has come for a while, never under a request the
// proxy is writing (a POST it would not send again). The health path says
// 503 from the start of the shutdown.
func TestUntilServesKeptAliveConnectionsUntilQuiet(t *testing.T) {
	defer func(d time.Duration) { requestQuiet = d }(requestQuiet)
	requestQuiet = 3 * time.Second // far above the gaps below, on any machine
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Until(ctx, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln) }()

	post := func(c net.Conn, br *bufio.Reader) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/send", strings.NewReader("m"))
		if err := req.Write(c); err != nil {
			return nil, err
		}
		res, err := http.ReadResponse(br, req)
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		return res, err
	}
	get := func(c net.Conn, br *bufio.Reader, path string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err := req.Write(c); err != nil {
			return nil, err
		}
		res, err := http.ReadResponse(br, req)
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		return res, err
	}
	hc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hbr := bufio.NewReader(hc)
	if res, err := get(hc, hbr, HealthPath); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s while serving: %v, %v; want 200", HealthPath, res, err)
	}
	const conns = 5
	var cs []net.Conn
	var brs []*bufio.Reader
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if res, err := post(c, br); err != nil || res.Close {
			t.Fatalf("before the shutdown: %v, %v; want a kept-alive answer", res, err)
		}
		cs, brs = append(cs, c), append(brs, br)
	}
	cancel()
	// The listener closes (no shutdown function to wait for).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still takes connections 5s after the shutdown began")
		}
	}
	// A balancer checking the health path sees the node leave.
	if res, err := get(hc, hbr, HealthPath); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s while shutting down: %v, %v; want 503", HealthPath, res, err)
	}
	for i := range conns {
		res, err := post(cs[i], brs[i])
		if err != nil {
			t.Fatalf("connection %d, kept alive from before the shutdown: %v; want its request served", i, err)
		}
		if res.StatusCode != http.StatusOK || !res.Close {
			t.Fatalf("connection %d: %s, close %v; want 200 closing the connection", i, res.Status, res.Close)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Until = %v; want nil", err)
		}
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("Until did not return")
	}
}
