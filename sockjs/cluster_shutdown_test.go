package sockjs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// A cluster node that shuts down still gives its own sessions their close
// frame when their next poll reaches it (a balancer may send one there
// until it sees the node leave); only new sessions are refused.
func TestClusterShutdownServesOwnSessionsCloseFrame(t *testing.T) {
	shared, bus := clusterfake.NewShared(), pubsub.NewMemory(1<<20)
	t.Cleanup(func() { _ = bus.Close() })
	var urls []string
	var handlers []*sockjs.Handler
	for _, name := range []string{"a", "b"} {
		h := sockjs.NewHandler(sockjs.Options{
			Cluster: &sockjs.Cluster{Store: shared.Store(cluster.Incarnation(name)), Bus: bus, Secret: []byte(directSecret)},
			Logger:  slog.New(slog.DiscardHandler),
		}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
		})
		urls, handlers = append(urls, srv.URL), append(handlers, h)
	}
	post := func(url string) (int, string) {
		t.Helper()
		res, err := http.Post(url, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post(urls[0] + "/0/own/xhr"); code != 200 || body != "o\n" {
		t.Fatalf("open on a: %d %q", code, body)
	}
	if code, body := post(urls[1] + "/0/other/xhr"); code != 200 || body != "o\n" {
		t.Fatalf("open on b: %d %q", code, body)
	}
	// b's session streams through a: a carries it, so it stays in the
	// cluster while it drains (until the stream's next frame).
	sctx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	req, _ := http.NewRequestWithContext(sctx, http.MethodPost, urls[0]+"/0/other/xhr_streaming", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("carried stream: %s", stream.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- handlers[0].Shutdown(ctx) }()
	// Shutdown has begun once a new session is refused.
	for i := 0; ; i++ {
		if code, _ := post(fmt.Sprintf("%s/0/new%d/xhr", urls[0], i)); code == http.StatusServiceUnavailable {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("new sessions were never refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := post(urls[0] + "/0/own/xhr"); code != 200 || body != "c[1001,\"Server is shutting down\"]\n" {
		t.Fatalf("the own session's poll during the shutdown: %d %q; want its close frame", code, body)
	}
	stopStream()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
