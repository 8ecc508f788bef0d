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
