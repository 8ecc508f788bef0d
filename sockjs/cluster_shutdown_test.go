package sockjs_test

import (
	"context"
	"fmt"
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
	shared := clusterfake.NewShared()
	urls, handlers := shutdownNodes(t, 0, shared.Store(cluster.Incarnation("a")), shared.Store(cluster.Incarnation("b")))
	poll := func(url string) (int, string) { t.Helper(); return post(t, http.DefaultClient, url, "text/plain", "") }
	if code, body := poll(urls[0] + "/0/own/xhr"); code != 200 || body != "o\n" {
		t.Fatalf("open on a: %d %q", code, body)
	}
	if code, body := poll(urls[1] + "/0/other/xhr"); code != 200 || body != "o\n" {
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
		if code, _ := poll(fmt.Sprintf("%s/0/new%d/xhr", urls[0], i)); code == http.StatusServiceUnavailable {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("new sessions were never refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := poll(urls[0] + "/0/own/xhr"); code != 200 || body != "c[1001,\"Server is shutting down\"]\n" {
		t.Fatalf("the own session's poll during the shutdown: %d %q; want its close frame", code, body)
	}
	stopStream()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// slowLeaving is a Store whose Deregister waits until leave is closed,
// and says on deregistering when it has begun.
type slowLeaving struct {
	cluster.Store
	deregistering chan struct{}
	leave         chan struct{}
}

func (s *slowLeaving) Deregister(ctx context.Context) error {
	close(s.deregistering)
	<-s.leave
	return s.Store.Deregister(ctx)
}

// A request carried to a node in its last moments (it no longer holds
// any session, and still listens while it leaves the store) is answered
// at once, not left to the forward timeout: the edge asks the store again
// and gives the client the session's end (before: the node dropped the
// exchange unanswered, and a client's send hung until it gave up).
func TestClusterRequestToALeavingNodeIsAnswered(t *testing.T) {
	shared := clusterfake.NewShared()
	leaving := &slowLeaving{Store: shared.Store(cluster.Incarnation("a")), deregistering: make(chan struct{}), leave: make(chan struct{})}
	urls, handlers := shutdownNodes(t, 3*time.Second, leaving, shared.Store(cluster.Incarnation("b")))
	send := func(url, body string) (int, string) {
		t.Helper()
		return post(t, http.DefaultClient, url, "text/plain", body)
	}
	if code, body := send(urls[0]+"/0/own/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on a: %d %q", code, body)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- handlers[0].Shutdown(ctx)
	}()
	defer func() {
		close(leaving.leave)
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	select {
	case <-leaving.deregistering: // a has closed, and still listens
	case <-time.After(10 * time.Second):
		t.Fatal("a never began to leave the store")
	}
	// Unanswered, the edge would give up after its forward timeout: 504.
	if code, body := send(urls[1]+"/0/own/xhr_send", `["late"]`); code != http.StatusNotFound {
		t.Fatalf("a send carried to the leaving node: %d %q, want 404 (its session is over)", code, body)
	}
}

// shutdownNodes serves a cluster node per store on one memory bus, each
// shut down when the test ends; forwardTimeout zero means the default.
func shutdownNodes(t *testing.T, forwardTimeout time.Duration, stores ...cluster.Store) ([]string, []*sockjs.Handler) {
	t.Helper()
	bus := pubsub.NewMemory(1 << 20)
	t.Cleanup(func() { _ = bus.Close() })
	var urls []string
	var handlers []*sockjs.Handler
	for _, st := range stores {
		h := sockjs.NewHandler(sockjs.Options{
			Cluster: &sockjs.Cluster{Store: st, Bus: bus, Secret: []byte(directSecret), ForwardTimeout: forwardTimeout},
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
	return urls, handlers
}
