package sockjs_test

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// lossyBus is a memory bus that loses in flight (reports as heard, never
// delivers) the first payload published on an armed topic, as Redis does
// with a message on its way through a master that is killed.
type lossyBus struct {
	*pubsub.Memory
	mu      sync.Mutex
	armed   string // a topic suffix; "" disarmed
	dropped atomic.Int32
}

func (b *lossyBus) arm(topicSuffix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = topicSuffix
}

func (b *lossyBus) lose(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.armed == "" || !strings.HasSuffix(topic, b.armed) {
		return false
	}
	b.armed = ""
	b.dropped.Add(1)
	return true
}

func (b *lossyBus) Publish(ctx context.Context, topic string, p []byte) error {
	_, err := b.PublishCount(ctx, topic, p)
	return err
}

func (b *lossyBus) PublishCount(ctx context.Context, topic string, p []byte) (int, error) {
	if b.lose(topic) {
		return 1, nil
	}
	return b.Memory.PublishCount(ctx, topic, p)
}

// A message of the tunnel that the bus loses (the request carried to the
// owner, or the owner's answer) costs the client a moment, not the forward
// timeout's 504, and no send is applied twice nor any frame given twice:
// the edge asks again, and the owner answers from what it knows.
func TestClusterTunnelMessageLostInFlight(t *testing.T) {
	t.Parallel()
	// The edge asks again after 3/5 of it; the answer must then cross the
	// bus twice before the edge gives up, however slow the machine.
	const forwardTimeout = 5 * time.Second
	tests := []struct {
		name string
		lose func(edge, owner string) string // the topic suffix to lose one payload on
		// carried: a send carried through the edge (else a poll carried
		// through it, of a frame the application queued)
		send bool
	}{
		{"send's request lost", func(_, owner string) string { return "/node/" + owner }, true},
		{"send's 204 lost", func(edge, _ string) string { return "/node/" + edge }, true},
		{"poll's request lost", func(_, owner string) string { return "/node/" + owner }, false},
		{"poll's frame lost", func(edge, _ string) string { return "/node/" + edge }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus, stores, urls, got := lossyNodes(t, 300*time.Millisecond, forwardTimeout)
			edge, owner := urls[0], urls[1]
			if code, body := post(t, http.DefaultClient, owner+"/0/s/xhr", "text/plain", ""); code != 200 || body != "o\n" {
				t.Fatalf("open on the owner: %d %q", code, body)
			}
			if !tc.send {
				// A frame waits on the owner for the poll carried below.
				if code, _ := post(t, http.DefaultClient, owner+"/0/s/xhr_send", "text/plain", `["echo me"]`); code != http.StatusNoContent {
					t.Fatalf("send on the owner: %d", code)
				}
				if msg := <-got; msg != "echo me" {
					t.Fatalf("the application got %q", msg)
				}
			}
			bus.arm(tc.lose(stores[0].Node(), stores[1].Node()))
			start := time.Now()
			if tc.send {
				if code, body := post(t, http.DefaultClient, edge+"/0/s/xhr_send", "text/plain", `["once"]`); code != http.StatusNoContent {
					t.Fatalf("carried send: %d %q (after %v), want 204", code, body, time.Since(start))
				}
				select {
				case msg := <-got:
					if msg != "once" {
						t.Fatalf("the application got %q, want \"once\"", msg)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the carried send's message never reached the application")
				}
			} else {
				if code, body := post(t, http.DefaultClient, edge+"/0/s/xhr", "text/plain", ""); code != 200 || body != "a[\"echoed\"]\n" {
					t.Fatalf("carried poll: %d %q (after %v), want the queued frame", code, body, time.Since(start))
				}
			}
			if bus.dropped.Load() != 1 {
				t.Fatalf("the bus lost %d payloads, want 1: the scenario did not happen", bus.dropped.Load())
			}
			// Nothing twice: the next poll has only a heartbeat, and the
			// application no second copy.
			if code, body := post(t, http.DefaultClient, owner+"/0/s/xhr", "text/plain", ""); code != 200 || body != "h\n" {
				t.Fatalf("the next poll: %d %q, want a heartbeat (nothing given twice)", code, body)
			}
			select {
			case msg := <-got:
				t.Fatalf("the application got %q again", msg)
			default:
			}
		})
	}
}

// lossyNodes serves an edge and an owner node on one lossyBus; what the
// application receives goes to got, and it answers "echo me" with "echoed".
func lossyNodes(t *testing.T, heartbeat, forwardTimeout time.Duration) (*lossyBus, []cluster.Store, []string, chan string) {
	bus := &lossyBus{Memory: pubsub.NewMemory(1 << 20)}
	t.Cleanup(func() { _ = bus.Close() })
	shared := clusterfake.NewShared()
	stores := []cluster.Store{shared.Store(cluster.Incarnation("edge")), shared.Store(cluster.Incarnation("owner"))}
	got := make(chan string, 16)
	var urls []string
	for _, st := range stores {
		h := sockjs.NewHandler(sockjs.Options{
			HeartbeatDelay: heartbeat,
			Cluster:        &sockjs.Cluster{Store: st, Bus: bus, Secret: []byte(directSecret), ForwardTimeout: forwardTimeout},
			Logger:         slog.New(slog.DiscardHandler),
		}, func(ctx context.Context, s *sockjs.Session) {
			for {
				msg, err := s.Recv(ctx)
				if err != nil {
					return
				}
				got <- msg
				if msg == "echo me" {
					_ = s.Send("echoed")
				}
			}
		})
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
		})
		waitReady(t, h)
		urls = append(urls, srv.URL)
	}
	return bus, stores, urls, got
}

// When the edge's Cancel of a carried stream is lost (its client left),
// the owner does not keep the session's receiver: the edge answers the
// owner's next word on that exchange (its keepalive) with another Cancel,
// and the client's next request gets what it gets on one node after it
// left a stream (the session goes on, or ends as interrupted), not a
// refusal as another connection (2010) until the heartbeats find out.
func TestClusterLostCancelFreesTheReceiver(t *testing.T) {
	t.Parallel()
	bus, stores, urls, _ := lossyNodes(t, 1500*time.Millisecond, 2*time.Second)
	edge, owner := urls[0], urls[1]
	if code, body := post(t, http.DefaultClient, owner+"/0/s/xhr", "text/plain", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on the owner: %d %q", code, body)
	}
	ctx, leave := context.WithCancel(context.Background())
	defer leave()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, edge+"/0/s/xhr_streaming", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || resp.StatusCode != 200 {
		t.Fatalf("carried stream: %s, prelude: %v", resp.Status, err)
	}
	bus.arm("/node/" + stores[1].Node()) // the next word to the owner: the Cancel
	leave()
	for deadline := time.Now().Add(8 * time.Second); ; {
		code, body := post(t, http.DefaultClient, owner+"/0/s/xhr", "text/plain", "")
		if code == 200 && (body == "h\n" || body == `c[1002,"Connection interrupted"]`+"\n") {
			break
		}
		if code != 200 || !strings.HasPrefix(body, "c[2010,") || time.Now().After(deadline) {
			t.Fatalf("a poll after the client left the carried stream: %d %q; want a heartbeat once the owner let the stream go", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if bus.dropped.Load() != 1 {
		t.Fatalf("the bus lost %d payloads, want 1: the scenario did not happen", bus.dropped.Load())
	}
}

// waitReady waits until h's cluster node has registered.
func waitReady(t *testing.T, h *sockjs.Handler) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !h.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster node never became ready")
		}
	}
}
