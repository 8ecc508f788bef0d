package sockjs_test

import (
	"context"
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

// heldRegistration is a Store whose Register fails until registered is
// closed, as a store too slow to answer within the renewal interval.
type heldRegistration struct {
	cluster.Store
	registered chan struct{}
}

func (s *heldRegistration) Register(ctx context.Context) (bool, error) {
	select {
	case <-s.registered:
		return s.Store.Register(ctx)
	default:
		return false, context.DeadlineExceeded
	}
}

// Ready is true for a plain handler until Shutdown, and for a cluster node
// only once it has registered: a readiness probe keeps clients off a node
// that would answer them 503.
func TestReadyFollowsRegistrationAndShutdown(t *testing.T) {
	shutdown := func(h *sockjs.Handler) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	app := func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() }

	plain := sockjs.NewHandler(sockjs.Options{}, app)
	if !plain.Ready() {
		t.Fatal("a handler without a cluster is not ready")
	}
	shutdown(plain)
	if plain.Ready() {
		t.Fatal("a handler that shut down is still ready")
	}

	bus := pubsub.NewMemory(1 << 20)
	defer bus.Close()
	st := &heldRegistration{Store: clusterfake.NewShared().Store(cluster.Incarnation("a")), registered: make(chan struct{})}
	node := sockjs.NewHandler(sockjs.Options{
		Cluster: &sockjs.Cluster{Store: st, Bus: bus, Secret: []byte(directSecret), RenewInterval: 50 * time.Millisecond, ForwardTimeout: 200 * time.Millisecond},
		Logger:  slog.New(slog.DiscardHandler),
	}, app)
	srv := httptest.NewServer(node)
	defer srv.Close()
	defer shutdown(node)
	time.Sleep(300 * time.Millisecond) // several renewals, all failed
	if node.Ready() {
		t.Fatal("a node that never registered is ready")
	}
	if code, body := post(t, http.DefaultClient, srv.URL+"/0/s/xhr", "text/plain", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("a request while the node is not ready: %d %q, want 503", code, body)
	}
	close(st.registered)
	for deadline := time.Now().Add(10 * time.Second); !node.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node registered but is not ready 10 s later")
		}
	}
	if code, body := post(t, http.DefaultClient, srv.URL+"/0/s/xhr", "text/plain", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on the ready node: %d %q", code, body)
	}
	shutdown(node)
	if node.Ready() {
		t.Fatal("a node that shut down is still ready")
	}
}
