package prometheus_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockline/sockline/internal/tunnel"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// oneNodeStore is a cluster.Store of a single node that owns every
// session: enough for a handler to join a cluster in a test.
type oneNodeStore struct{ node string }

func (s oneNodeStore) Node() string                                  { return s.node }
func (oneNodeStore) Register(context.Context) (bool, error)          { return true, nil }
func (oneNodeStore) Deregister(context.Context) error                { return nil }
func (oneNodeStore) Fence(context.Context, string) error             { return nil }
func (oneNodeStore) RenewEvery() time.Duration                       { return time.Hour }
func (oneNodeStore) Release(context.Context, string) error           { return nil }
func (s oneNodeStore) Owner(context.Context, string) (string, error) { return s.node, nil }
func (s oneNodeStore) Claim(context.Context, string) (string, bool, error) {
	return s.node, true, nil
}
func (oneNodeStore) Alive(_ context.Context, nodes []string) ([]bool, error) {
	alive := make([]bool, len(nodes))
	for i := range alive {
		alive[i] = true
	}
	return alive, nil
}
func (oneNodeStore) Renew(context.Context, []string) ([]string, error) { return nil, nil }

// topicsBus is a pubsub.Bus that remembers the topics subscribed to, so
// that a test can write to them as another node would.
type topicsBus struct {
	*pubsub.Memory
	mu     sync.Mutex
	topics map[string]bool
}

func (b *topicsBus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (func(), error) {
	b.mu.Lock()
	b.topics[topic] = true
	b.mu.Unlock()
	return b.Memory.Subscribe(ctx, topic, h)
}

// publishAll publishes p on every topic subscribed to.
func (b *topicsBus) publishAll(t *testing.T, p []byte) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for topic := range b.topics {
		if err := b.Publish(context.Background(), topic, p); err != nil {
			t.Fatal(err)
		}
	}
}

// The collector exports what Handler.ClusterStats counts, by reason, with
// the Options' namespace and ConstLabels.
func TestClusterCollector(t *testing.T) {
	const secret = "the cluster secret, 32 bytes...."
	bus := &topicsBus{Memory: pubsub.NewMemory(1 << 20), topics: make(map[string]bool)}
	defer bus.Close()
	h := sockjs.NewHandler(sockjs.Options{
		Cluster: &sockjs.Cluster{Store: oneNodeStore{node: "n1#test"}, Bus: bus, Secret: []byte(secret)},
		Logger:  slog.New(slog.DiscardHandler), // the drops below are logged
	}, echo)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = h.Shutdown(ctx)
	}()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sockjsprom.NewClusterCollector(h, sockjsprom.Options{ConstLabels: prometheus.Labels{"handler": "echo"}}))
	const name = "sockjs_cluster_dropped_messages_total"
	reason := func(r string) map[string]string { return map[string]string{"handler": "echo", "reason": r} }
	for _, r := range []string{"forged", "malformed", "stray"} {
		waitValue(t, reg, name, reason(r), 0)
	}

	// Wait for the node to subscribe, then write to it as others would.
	deadline := time.Now().Add(wait)
	for {
		bus.mu.Lock()
		n := len(bus.topics)
		bus.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not subscribe")
		}
		time.Sleep(5 * time.Millisecond) // subscribing happens on the node's own goroutine
	}
	chunk := &tunnel.Msg{Kind: tunnel.KindChunk, Final: true, ID: "n2#gone/1", From: "n2#gone", Seq: 1, Status: 200}
	other, err := tunnel.NewCodec([]byte("not the cluster secret, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := tunnel.NewCodec([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		reason  string
		payload []byte
		times   int
	}{
		{"forged", other.Encode(chunk), 1}, // another secret
		{"malformed", []byte("x"), 2},      // too short to be a message
		{"stray", ours.Encode(chunk), 3},   // an exchange the node does not have
	} {
		for range tt.times {
			bus.publishAll(t, tt.payload)
		}
		waitValue(t, reg, name, reason(tt.reason), float64(tt.times))
	}
	st := h.ClusterStats()
	if st.Forged != 1 || st.Malformed != 2 || st.Stray != 3 {
		t.Fatalf("ClusterStats() = %+v, want 1 forged, 2 malformed, 3 stray", st)
	}
}

// Without a cluster the three series exist, at zero.
func TestClusterCollectorWithoutCluster(t *testing.T) {
	h := sockjs.NewHandler(sockjs.Options{}, echo)
	defer h.Shutdown(context.Background())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sockjsprom.NewClusterCollector(h, sockjsprom.Options{Namespace: "chat"}))
	for _, r := range []string{"forged", "malformed", "stray"} {
		waitValue(t, reg, "chat_cluster_dropped_messages_total", map[string]string{"reason": r}, 0)
	}
}
