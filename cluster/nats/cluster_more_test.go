package nats_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/sockjs"
)

// stream opens an xhr_streaming response and returns a reader of its lines
// (the 2 KiB prelude skipped) and a function that ends it.
func stream(t *testing.T, url string) (*bufio.Reader, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("POST %s: %v", url, err)
	}
	br := bufio.NewReader(res.Body)
	if _, err := br.ReadString('\n'); err != nil { // prelude
		cancel()
		t.Fatalf("prelude: %v", err)
	}
	return br, func() { cancel(); res.Body.Close() }
}

func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		l, err := br.ReadString('\n')
		if err != nil {
			l = "error: " + err.Error()
		}
		done <- strings.TrimSuffix(l, "\n")
	}()
	select {
	case l := <-done:
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("no frame within 20s")
		return ""
	}
}

// The one-receiver rule holds across nodes: a second receiving request on a
// third node gets 2010 while the first, on a second node, still streams.
func TestClusterAnotherConnectionAcrossNodes(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	n1, n2, n3 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo", f.nodes[2].srv.URL+"/echo"
	open(t, n1, "s2010")
	br, end := stream(t, n2+"/000/s2010/xhr_streaming")
	defer end()
	if code, body := post(t, n3+"/000/s2010/xhr", ""); code != 200 || body != "c[2010,\"Another connection still open\"]\n" {
		t.Fatalf("second receiver on n3: %d %q, want the 2010 close frame", code, body)
	}
	if code, _ := post(t, n3+"/000/s2010/xhr_send", `["still here"]`); code != 204 {
		t.Fatalf("send via n3: %d", code)
	}
	if l := readLine(t, br); l != `a["still here"]` {
		t.Fatalf("first receiver got %q", l)
	}
}

// Streams end at the response limit and the client opens new ones, on other
// nodes each time, without losing or repeating a message.
func TestClusterResponseLimitRolloverLosesNothing(t *testing.T) {
	f := startCluster(t, 2, sockjs.Options{ResponseLimit: 1024})
	for _, tr := range []string{client.XHRStreaming, client.EventSource} {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, f.proxy.URL+"/echo", tr)
			const n = 300
			for i := range n {
				if err := c.Send(strings.Repeat("y", 40) + string(rune('a'+i%26))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				if want, got := strings.Repeat("y", 40)+string(rune('a'+i%26)), recv(t, c); got != want {
					t.Fatalf("message %d: %q, want %q", i, got, want)
				}
			}
		})
	}
}

// Heartbeats reach a receiver whose request was carried to another node.
func TestClusterHeartbeatsOnACarriedStream(t *testing.T) {
	f := startCluster(t, 2, sockjs.Options{HeartbeatDelay: 300 * time.Millisecond})
	open(t, f.nodes[0].srv.URL+"/echo", "shb")
	br, end := stream(t, f.nodes[1].srv.URL+"/echo/000/shb/xhr_streaming")
	defer end()
	for range 3 {
		if l := readLine(t, br); l != "h" {
			t.Fatalf("carried stream got %q, want a heartbeat", l)
		}
	}
}

// An edge that dies while it holds a carried poll frees the session's
// receiver on the owner, also with heartbeats off.
func TestClusterDeadEdgeFreesTheReceiver(t *testing.T) {
	f := &clusterFixture{nats: natstest.Start(t), forwardTimeout: time.Second}
	f.start(t, 2, sockjs.Options{HeartbeatDelay: -1})
	owner := f.nodes[0].srv.URL + "/echo"
	open(t, owner, "s")
	_ = request("POST", f.nodes[1].srv.URL+"/echo/000/s/xhr", "", "")
	time.Sleep(300 * time.Millisecond)
	f.nodes[1].crash()
	time.Sleep(2 * time.Second)
	if code, body := post(t, owner+"/000/s/xhr", ""); code != 200 || body != "c[1002,\"Connection interrupted\"]\n" {
		t.Fatalf("poll after the edge died: %d %q, want the session interrupted, not 2010", code, body)
	}
}

// Carried requests take only what the transports need: cookies and
// credentials never reach NATS; and a message forged on NATS without the
// cluster secret is dropped and counted, never written to a client.
func TestClusterTunnelIsAuthenticatedAndCarriesNoCredentials(t *testing.T) {
	f := startCluster(t, 2, sockjs.Options{})
	owner, edge := f.nodes[0], f.nodes[1]
	spy, err := natsgo.Connect(f.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	var mu sync.Mutex
	var seen strings.Builder
	if _, err := spy.Subscribe("sockline.>", func(m *natsgo.Msg) {
		mu.Lock()
		seen.Write(m.Data)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	open(t, owner.srv.URL+"/echo", "s")
	req, _ := http.NewRequest("POST", edge.srv.URL+"/echo/000/s/xhr", nil)
	req.Header.Set("Cookie", "SESSION=cookie-credential-1")
	req.Header.Set("Authorization", "Bearer token-credential-2")
	poll := make(chan string, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			poll <- err.Error()
			return
		}
		defer res.Body.Close()
		b := new(strings.Builder)
		_, _ = bufio.NewReader(res.Body).WriteTo(b)
		poll <- b.String()
	}()
	time.Sleep(300 * time.Millisecond)
	forger, _ := tunnel.NewCodec([]byte("not the cluster secret, 32 bytes"))
	forged := forger.Encode(&tunnel.Msg{Kind: tunnel.KindChunk, Final: true, ID: edge.store.Node() + "/1",
		From: owner.store.Node(), Seq: 1, Status: 200, Body: []byte("a[\"injected\"]\n")})
	if err := spy.Publish(nats.Subject("sockline/default/node/"+edge.store.Node()), forged); err != nil {
		t.Fatal(err)
	}
	_ = spy.Flush()
	time.Sleep(200 * time.Millisecond)
	if code, _ := post(t, edge.srv.URL+"/echo/000/s/xhr_send", `["real"]`); code != 204 {
		t.Fatalf("send: %d", code)
	}
	select {
	case got := <-poll:
		if got != "a[\"real\"]\n" {
			t.Fatalf("carried poll: %q, want only the real message", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the carried poll did not end")
	}
	if got := edge.h.ClusterStats().Forged; got != 1 {
		t.Fatalf("ClusterStats().Forged = %d, want the 1 forged message counted", got)
	}
	_ = spy.Flush()
	mu.Lock()
	s := seen.String()
	mu.Unlock()
	if strings.Contains(s, "credential") || !strings.Contains(s, "real") {
		t.Fatalf("what crossed NATS: credentials leaked (%v) or the spy saw nothing (%v)",
			strings.Contains(s, "credential"), !strings.Contains(s, "real"))
	}
}

// slowRelease is a node's store whose Release takes a while, as over a slow
// network.
type slowRelease struct{ cluster.Store }

func (s slowRelease) Release(ctx context.Context, id string) error {
	time.Sleep(time.Second)
	return s.Store.Release(ctx, id)
}

// A request for a session its node forgot a moment ago (expired, its record
// being released) gets a new session as on one node, and that session keeps
// its record: other nodes carry its requests to it.
func TestClusterSessionReopenedWhileItsReleaseIsUnderWay(t *testing.T) {
	f := &clusterFixture{nats: natstest.Start(t)}
	f.wrapStore = func(name string, s cluster.Store) cluster.Store {
		if name == "n1" {
			return slowRelease{s}
		}
		return s
	}
	f.start(t, 2, sockjs.Options{DisconnectDelay: 200 * time.Millisecond})
	n1, n2 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	open(t, n1, "s")
	if code, _ := post(t, n1+"/000/s/xhr_send", `["close bye"]`); code != 204 {
		t.Fatalf("close: %d", code)
	}
	if code, body := post(t, n1+"/000/s/xhr", ""); body != "c[3001,\"bye\"]\n" {
		t.Fatalf("close frame: %d %q", code, body)
	}
	time.Sleep(500 * time.Millisecond) // expired: the slow release is under way
	open(t, n1, "s")                   // a new session under the id, as on one node
	poll := request("POST", n1+"/000/s/xhr", "", "")
	time.Sleep(1500 * time.Millisecond)
	if code, _ := post(t, n2+"/000/s/xhr_send", `["still here"]`); code != 204 {
		t.Fatalf("send through n2: %d, want the new session found through its record", code)
	}
	if r := await(t, "the new session's poll", poll, 10*time.Second); r[1] != "a[\"still here\"]\n" {
		t.Fatalf("poll: %s %q", r[0], r[1])
	}
}
