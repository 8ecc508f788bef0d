package sockjs_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

const directSecret = "direct test secret, 32 bytes...."

// trackingListener remembers the connections it accepted, so that a test
// can cut them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every connection accepted so far.
func (l *trackingListener) cut() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	n := len(l.conns)
	l.conns = nil
	return n
}

// directNode is one handler of a test cluster, with its HTTP server and
// direct listener.
type directNode struct {
	h   *sockjs.Handler
	url string
	ln  *trackingListener
}

// startDirectCluster starts n nodes on one in-memory store and bus, each
// taking direct connections on a loopback port; they stop with the test.
func startDirectCluster(t *testing.T, n int) []*directNode {
	t.Helper()
	shared, bus := clusterfake.NewShared(), pubsub.NewMemory(1<<20)
	t.Cleanup(func() { _ = bus.Close() })
	var nodes []*directNode
	for i := range n {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := &trackingListener{Listener: raw}
		h := sockjs.NewHandler(sockjs.Options{
			Cluster: &sockjs.Cluster{Store: shared.Store(cluster.Incarnation("n" + string(rune('a'+i)))), Bus: bus,
				Secret: []byte(directSecret), DirectListener: ln},
			HeartbeatDelay: time.Second,
			Logger:         slog.New(slog.DiscardHandler),
		}, func(ctx context.Context, s *sockjs.Session) {
			for {
				m, err := s.Recv(ctx)
				if err != nil {
					return
				}
				_ = s.Send(m)
			}
		})
		srv := httptest.NewServer(h)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
			srv.Close()
		})
		nodes = append(nodes, &directNode{h: h, url: srv.URL, ln: ln})
	}
	return nodes
}

func directPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// pollFor polls until a message frame comes (heartbeats skipped) and
// returns it.
func pollFor(t *testing.T, url string) string {
	t.Helper()
	for range 10 {
		code, body := directPost(t, url, "")
		if code != http.StatusOK {
			t.Fatalf("poll %s: %d %q", url, code, body)
		}
		if body != "h\n" {
			return body
		}
	}
	t.Fatalf("poll %s: only heartbeats", url)
	return ""
}

// A session's requests carried from the node that got them to its owner
// go over the direct connection between the two (after the first
// exchange, which tells the edge where to dial), in order, with nothing
// lost; answers come back the same way.
func TestClusterDirectCarriesRequests(t *testing.T) {
	nodes := startDirectCluster(t, 2)
	a, b := nodes[0], nodes[1]
	base := "/000/direct1"
	if code, body := directPost(t, a.url+base+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on a: %d %q", code, body)
	}
	for i := range 30 {
		msg := `["m` + string(rune('0'+i%10)) + `"]`
		if code, body := directPost(t, b.url+base+"/xhr_send", msg); code != http.StatusNoContent {
			t.Fatalf("send %d through b: %d %q", i, code, body)
		}
		if got := pollFor(t, b.url+base+"/xhr"); got != "a"+msg+"\n" {
			t.Fatalf("poll %d through b: %q, want a%s", i, got, msg)
		}
	}
	sa, sb := a.h.ClusterStats(), b.h.ClusterStats()
	if sb.Direct == 0 || sa.Direct == 0 {
		t.Fatalf("direct messages: edge %d, owner %d; want both to have used the direct connection", sb.Direct, sa.Direct)
	}
	if sa.Forged+sa.Malformed+sb.Forged+sb.Malformed != 0 {
		t.Fatalf("stats a %+v b %+v: dropped messages", sa, sb)
	}

	// A carried stream, over the direct connection too.
	resp, err := http.Post(b.url+base+"/xhr_streaming", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || len(line) != 2049 {
		t.Fatalf("stream prelude: %d bytes, %v", len(line), err)
	}
	for i := range 5 {
		msg := `["s` + string(rune('0'+i)) + `"]`
		if code, _ := directPost(t, b.url+base+"/xhr_send", msg); code != http.StatusNoContent {
			t.Fatalf("send %d: %d", i, code)
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if line == "h\n" || line == "o\n" {
				continue
			}
			if line != "a"+msg+"\n" {
				t.Fatalf("stream frame %d: %q, want a%s", i, line, msg)
			}
			break
		}
	}
}

// A direct connection cut under a waiting poll does not lose the session:
// what was not written goes over the bus, the poll gets its message, and
// later exchanges go on (over the bus, or a new connection).
func TestClusterDirectConnectionCutFallsBackToTheBus(t *testing.T) {
	nodes := startDirectCluster(t, 2)
	a, b := nodes[0], nodes[1]
	base := "/000/direct2"
	if code, body := directPost(t, a.url+base+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on a: %d %q", code, body)
	}
	// Exchanges through b until they run on the direct connection (the
	// first tells b where to dial; the dial takes a moment).
	for i := 0; i < 2 || b.h.ClusterStats().Direct == 0 && i < 50; i++ {
		if code, _ := directPost(t, b.url+base+"/xhr_send", `["warm"]`); code != http.StatusNoContent {
			t.Fatalf("send %d: %d", i, code)
		}
		if got := pollFor(t, b.url+base+"/xhr"); got != "a[\"warm\"]\n" {
			t.Fatalf("poll %d: %q", i, got)
		}
	}
	if b.h.ClusterStats().Direct == 0 {
		t.Fatal("the edge never used its direct connection")
	}
	type answer struct {
		code int
		body string
	}
	polled := make(chan answer, 1)
	go func() {
		resp, err := http.Post(b.url+base+"/xhr", "text/plain", nil)
		if err != nil {
			polled <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		polled <- answer{resp.StatusCode, string(body)}
	}()
	time.Sleep(200 * time.Millisecond) // the poll waits on a
	if a.ln.cut()+b.ln.cut() == 0 {
		t.Fatal("no direct connection to cut")
	}
	var got answer
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _ := directPost(t, b.url+base+"/xhr_send", `["after the cut"]`); code != http.StatusNoContent {
			t.Fatalf("send after the cut: %d", code)
		}
		got = <-polled
		if got.body != "h\n" || time.Now().After(deadline) {
			break
		}
		go func() { // a heartbeat came first: poll again
			code, body := directPost(t, b.url+base+"/xhr", "")
			polled <- answer{code, body}
		}()
	}
	if got.code != 200 || !strings.Contains(got.body, "after the cut") {
		t.Fatalf("poll across the cut: %d %q", got.code, got.body)
	}
	for i := range 3 {
		if code, _ := directPost(t, b.url+base+"/xhr_send", `["later"]`); code != http.StatusNoContent {
			t.Fatalf("send %d after the cut: %d", i, code)
		}
		if body := pollFor(t, b.url+base+"/xhr"); !strings.Contains(body, "later") {
			t.Fatalf("poll %d after the cut: %q", i, body)
		}
	}
}

// writeTestFrame writes one length-prefixed message as the nodes do.
func writeTestFrame(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
	if _, err := c.Write(append(buf, p...)); err != nil {
		t.Fatal(err)
	}
}

// closedWithin reports whether the node closed c without answering.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err != nil && !isTimeout(err)
}

// The direct listener answers only a Hello made with the cluster's Secret
// that names this very incarnation: not one made with another secret (a
// stranger, counted as forged), nor one for a node that lived at this
// address before (a restart under the same name), nor anything oversized.
func TestClusterDirectRefusesStrangers(t *testing.T) {
	nodes := startDirectCluster(t, 1)
	a := nodes[0]
	addr := a.ln.Addr().String()
	ours, err := tunnel.NewCodec([]byte(directSecret))
	if err != nil {
		t.Fatal(err)
	}
	other, err := tunnel.NewCodec([]byte("another secret, also 32 bytes..."))
	if err != nil {
		t.Fatal(err)
	}
	hello := func(body string) *tunnel.Msg {
		return &tunnel.Msg{Kind: tunnel.KindHello, ID: tunnel.HelloID, From: "x#1", Body: []byte(body)}
	}
	// The node's incarnation, as a node hearing of it on the bus would
	// know it: from a message it sends. Open a session on it and carry
	// nothing: the name is what the store gave it.
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"another secret", other.Encode(hello("any"))},
		{"an old incarnation", ours.Encode(hello("na#0000000000000000"))},
		{"oversized", make([]byte, 64<<10)},
		{"not a hello", ours.Encode(&tunnel.Msg{Kind: tunnel.KindWait, ID: "x#1/1", From: "x#1"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			writeTestFrame(t, c, tt.frame)
			if !closedWithin(c, 5*time.Second) {
				t.Fatal("the node answered, or kept the connection open")
			}
		})
	}
	if st := a.h.ClusterStats(); st.Forged != 1 {
		t.Fatalf("forged = %d, want 1 (the hello made with another secret)", st.Forged)
	}
}

// unkeyableStore is a cluster.Store whose value cannot be a map key.
type unkeyableStore struct {
	cluster.Store
	tags map[string]string
}

// A Store whose value cannot be compared (a struct holding a map) is
// taken; it used to make NewHandler panic.
func TestClusterStoreOfAnUncomparableType(t *testing.T) {
	bus := pubsub.NewMemory(1 << 10)
	defer bus.Close()
	st := unkeyableStore{Store: clusterfake.NewShared().Store(cluster.Incarnation("u")), tags: map[string]string{}}
	h := sockjs.NewHandler(sockjs.Options{
		Cluster: &sockjs.Cluster{Store: st, Bus: bus, Secret: []byte(directSecret)},
		Logger:  slog.New(slog.DiscardHandler),
	}, func(context.Context, *sockjs.Session) {})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if code, body := directPost(t, srv.URL+"/000/u1/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two handlers cannot share a DirectListener: each would take the other's
// connections. The second is refused with ErrInvalidOptions.
func TestClusterDirectListenerOfOneHandlerOnly(t *testing.T) {
	bus := pubsub.NewMemory(1 << 10)
	defer bus.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	store := clusterfake.NewShared().Store(cluster.Incarnation("one"))
	first := sockjs.NewHandler(sockjs.Options{
		Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte(directSecret), Service: "a", DirectListener: ln},
		Logger:  slog.New(slog.DiscardHandler),
	}, func(context.Context, *sockjs.Session) {})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = first.Shutdown(ctx)
	}()
	func() {
		defer func() {
			err, _ := recover().(error)
			if !errors.Is(err, sockjs.ErrInvalidOptions) || !strings.Contains(err.Error(), "its own") {
				t.Fatalf("second handler on the same listener: %v, want ErrInvalidOptions naming the fix", err)
			}
		}()
		sockjs.NewHandler(sockjs.Options{
			Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte(directSecret), Service: "b", DirectListener: ln},
			Logger:  slog.New(slog.DiscardHandler),
		}, func(context.Context, *sockjs.Session) {})
	}()
}
