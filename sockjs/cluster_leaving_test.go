package sockjs

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/pubsub"
)

// A request that reaches a draining node after its quiet period (a
// balancer slow to see it leave) is still carried to its end: the node
// waits for it before it stops, instead of cutting it with a 502 (seen in
// the chaos test's rolling deploy on a loaded box, where the balancer's
// health checks answered late).
func TestClusterRequestCarriedAsTheNodeLeavesEnds(t *testing.T) {
	bus := pubsub.NewMemory(1 << 20)
	t.Cleanup(func() { _ = bus.Close() })
	shared := clusterfake.NewShared()
	var urls []string
	var handlers []*Handler
	for _, name := range []string{"edge", "owner"} {
		h := NewHandler(Options{
			Cluster: &Cluster{Store: shared.Store(cluster.Incarnation(name)), Bus: bus, Secret: []byte("leaving test secret, 32 bytes..."), ForwardTimeout: 5 * time.Second},
			Logger:  slog.New(slog.DiscardHandler),
		}, func(ctx context.Context, s *Session) { <-ctx.Done() })
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
		})
		for deadline := time.Now().Add(10 * time.Second); !h.Ready(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a cluster node never became ready")
			}
		}
		urls, handlers = append(urls, srv.URL), append(handlers, h)
	}
	poll := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Post(url, "text/plain", nil)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := poll(urls[1] + "/0/s/xhr"); code != 200 || body != "o\n" {
		t.Fatalf("open on the owner: %d %q", code, body)
	}
	type answer struct {
		code int
		body string
	}
	carried := make(chan answer, 1)
	edge := handlers[0].cl
	testHookLeaving = func(c *clusterNode) {
		if c != edge {
			return
		}
		// The balancer sends one more poll here now; it is being carried
		// when the node goes on leaving.
		go func() {
			code, body := poll(urls[0] + "/0/s/xhr")
			carried <- answer{code, body}
		}()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			c.mu.Lock()
			n := len(c.out)
			c.mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				return
			}
		}
	}
	t.Cleanup(func() { testHookLeaving = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := handlers[0].Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case a := <-carried:
		// The edge is leaving: the owner answers the poll at once with a
		// heartbeat, and the client comes back through another node.
		if a.code != 200 || a.body != "h\n" {
			t.Fatalf("the poll carried as the node left: %d %q, want 200 with a heartbeat", a.code, a.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the poll carried as the node left never ended")
	}
}
