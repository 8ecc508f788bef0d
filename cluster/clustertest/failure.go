package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/sockjs"
)

// post makes one request and returns the body (bounded by ctx).
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

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
func testClusterAnotherConnectionAcrossNodes(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	n1, n2, n3 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo", f.nodes[2].srv.URL+"/echo"
	if code, body := post(t, n1+"/000/s2010/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on n1: %d %q", code, body)
	}
	br, end := stream(t, n2+"/000/s2010/xhr_streaming")
	defer end()
	if code, body := post(t, n3+"/000/s2010/xhr", ""); code != 200 || body != "c[2010,\"Another connection still open\"]\n" {
		t.Fatalf("second receiver on n3: %d %q, want the 2010 close frame", code, body)
	}
	// The first receiver is unaffected and still gets messages.
	if code, _ := post(t, n3+"/000/s2010/xhr_send", `["still here"]`); code != 204 {
		t.Fatalf("send via n3: %d", code)
	}
	if l := readLine(t, br); l != `a["still here"]` {
		t.Fatalf("first receiver got %q", l)
	}
}

// Streams end at the response limit and the client opens new ones, on other
// nodes each time, without losing or repeating a message.
func testClusterResponseLimitRolloverLosesNothing(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{ResponseLimit: 1024})
	for _, tr := range []string{client.XHRStreaming, client.EventSource} {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, f.proxy.URL+"/echo", tr)
			const n = 400
			for i := range n {
				if err := c.Send(fmt.Sprintf("m%04d-%s", i, strings.Repeat("y", 40))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				want := fmt.Sprintf("m%04d-%s", i, strings.Repeat("y", 40))
				if got := recv(t, c); got != want {
					t.Fatalf("message %d: %q, want %q", i, got, want)
				}
			}
		})
	}
}

// Heartbeats reach a receiver whose request was carried to another node.
func testClusterHeartbeatsOnACarriedStream(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{HeartbeatDelay: 300 * time.Millisecond})
	n1, n2 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	if code, body := post(t, n1+"/000/shb/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on n1: %d %q", code, body)
	}
	br, end := stream(t, n2+"/000/shb/xhr_streaming")
	defer end()
	for range 3 {
		if l := readLine(t, br); l != "h" {
			t.Fatalf("carried stream got %q, want a heartbeat", l)
		}
	}
}

// Broadcast from any node reaches sessions on every node, once each.
func testClusterBroadcastReachesEveryNode(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	var conns []*client.Conn
	for _, nd := range f.nodes {
		for _, tr := range []string{client.WebSocket, client.XHRStreaming} {
			conns = append(conns, dial(t, nd.srv.URL+"/echo", tr))
		}
	}
	conns = append(conns, dial(t, f.proxy.URL+"/echo", client.XHRPolling))
	// Wait until every session's handler runs (the dials return at "o").
	time.Sleep(200 * time.Millisecond)
	f.nodes[1].h.Broadcast("to all")
	f.nodes[2].h.Broadcast("again")
	for i, c := range conns {
		got := []string{recv(t, c), recv(t, c)}
		if got[0] != "to all" || got[1] != "again" {
			t.Fatalf("connection %d got %v", i, got)
		}
	}
	// Nothing more: each node delivered each broadcast once.
	for i, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		m, err := c.Recv(ctx)
		cancel()
		if err == nil {
			t.Fatalf("connection %d got an extra message %q", i, m)
		}
	}
}

// Publish on any node reaches the topic's subscribers on every node, once.
func testClusterTopicsReachEveryNode(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	var subs []*client.Conn
	for _, nd := range f.nodes {
		for _, tr := range []string{client.WebSocket, client.XHRStreaming} {
			c := dial(t, nd.srv.URL+"/echo", tr)
			if err := c.Send("sub news"); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, c); got != "ok sub news" {
				t.Fatalf("subscribe: %q", got)
			}
			subs = append(subs, c)
		}
	}
	other := dial(t, f.nodes[0].srv.URL+"/echo", client.XHRStreaming)
	if err := other.Send("sub sport"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, other); got != "ok sub sport" {
		t.Fatalf("subscribe: %q", got)
	}
	ctx := context.Background()
	for i := range 20 {
		if err := f.nodes[i%3].h.Publish(ctx, "news", fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range subs {
		seen := map[string]bool{}
		for range 20 {
			m := recv(t, c)
			if seen[m] {
				t.Fatalf("subscriber %d got %q twice", i, m)
			}
			seen[m] = true
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := other.Recv(rctx); err == nil {
		t.Fatalf("a subscriber of another topic got %q", m)
	}
}

// A node that dies loses only its own sessions: once their lease runs out
// the next request gets a close frame, and the other nodes' sessions go on.
func testClusterNodeDeathEndsOnlyItsSessions(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	n1, n2 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	if code, body := post(t, n1+"/000/doomed/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on n1: %d %q", code, body)
	}
	if code, body := post(t, n2+"/000/survivor/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on n2: %d %q", code, body)
	}
	ws := dial(t, n2, client.WebSocket)
	f.nodes[0].crash()
	lease, late := leaseOn(e, time.Second) // the fixture's lease
	time.Sleep(lease + late + time.Second) // the lease runs out
	if code, body := post(t, f.nodes[2].srv.URL+"/echo/000/doomed/xhr", ""); code != 200 || body != "c[1011,\"Session lost\"]\n" {
		t.Fatalf("poll for the dead node's session: %d %q, want the 1011 close frame", code, body)
	}
	if code, _ := post(t, n2+"/000/doomed/xhr_send", `["x"]`); code != 404 {
		t.Fatalf("send to the dead node's session: %d, want 404", code)
	}
	if code, _ := post(t, f.nodes[2].srv.URL+"/echo/000/survivor/xhr_send", `["alive"]`); code != 204 {
		t.Fatalf("send to a surviving session: %d", code)
	}
	if code, body := post(t, f.nodes[2].srv.URL+"/echo/000/survivor/xhr", ""); code != 200 || body != "a[\"alive\"]\n" {
		t.Fatalf("poll of a surviving session: %d %q", code, body)
	}
	if err := ws.Send("ws alive"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ws); got != "ws alive" {
		t.Fatalf("websocket on a surviving node got %q", got)
	}
}

// An engine outage never blocks local websocket sessions, refuses HTTP
// requests it cannot route with 503, and the cluster recovers by itself.
func testClusterEngineOutageAndRecovery(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{})
	n1 := f.nodes[0].srv.URL + "/echo"
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n1, "http")+"/000/wsout/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	readWS := func() string {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("websocket read: %v", err)
		}
		return string(p)
	}
	if got := readWS(); got != "o" {
		t.Fatalf("websocket opened with %q", got)
	}
	f.engine.Stop(t)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`["during outage"]`)); err != nil {
		t.Fatal(err)
	}
	if got := readWS(); got != `a["during outage"]` {
		t.Fatalf("websocket echo during the outage: %q", got)
	}
	if code, body := post(t, f.proxy.URL+"/echo/000/newsess/xhr", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("new HTTP session during the outage: %d %q, want 503", code, body)
	}
	f.engine.Start(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.Dial(ctx, f.proxy.URL+"/echo", &client.Options{Transports: []string{client.XHRPolling}})
		cancel()
		if err == nil {
			if err := c.Send("after"); err == nil {
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				m, err := c.Recv(rctx)
				rcancel()
				_ = c.Close(1000, "")
				if err == nil && m == "after" {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not recover within 20s of the engine coming back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A session whose client waits out an engine outage at another node lives
// on: its node holds it past the disconnect delay while the engine cannot
// route the client's requests, and the engine coming back empty does not
// let the waiting poll open a second session under its id (before: the
// owner timed the session out during the outage, and the poll got a new
// "o" once the engine was back, a chaos run's "Server lost session").
func testClusterOutageLongerThanTheDisconnectDelay(t *testing.T, e Engine) {
	const delay = 2 * time.Second
	// The edge asks the store again until its forward timeout: long
	// enough for a Redis Cluster to come back (it waits for its slots).
	f := &clusterFixture{engine: e, forwardTimeout: 40 * time.Second}
	f.start(t, 2, sockjs.Options{DisconnectDelay: delay, HeartbeatDelay: 500 * time.Millisecond})
	owner, edge := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	const id = "outlives-outage"
	open(t, owner, id)
	// Both nodes registered before the outage (the edge answers only
	// then): a node that had never registered cannot tell an empty
	// engine's restart from its first start.
	open(t, edge, "edge-registered")
	f.engine.Stop(t)
	// A last poll on the owner itself once the engine is out (a loaded
	// box may take longer to stop it than the delay): from its end, the
	// disconnect delay runs with nobody attached.
	if r := await(t, "a poll on the owner", request("POST", owner+"/000/"+id+"/xhr", "", nil), 20*time.Second); r[0] != "200" || r[1] != "h\n" {
		t.Fatalf("a poll on the owner during the outage: %s %q, want the heartbeat", r[0], r[1])
	}
	// The client's next poll waits at the other node, which cannot find
	// the session's owner until the engine is back.
	poll := request("POST", edge+"/000/"+id+"/xhr", "", nil)
	time.Sleep(2 * delay)
	// Some engines take longer to start than the disconnect delay (a
	// Redis Cluster waits for its slots): the client polls on meanwhile,
	// as a real one does, while Start runs on.
	started := make(chan struct{})
	go func() {
		defer close(started)
		f.engine.Start(t)
	}()
	defer func() { <-started }()
	r := await(t, "the poll that waited out the outage", poll, 60*time.Second)
	if r[0] != "200" || r[1] != "h\n" {
		t.Fatalf("the poll that waited out the outage: %s %q, want the session's heartbeat (not a new session's \"o\")", r[0], r[1])
	}
	poll = request("POST", edge+"/000/"+id+"/xhr", "", nil)
	if code, body := post(t, edge+"/000/"+id+"/xhr_send", `["after"]`); code != http.StatusNoContent {
		t.Fatalf("send after the outage: %d %q", code, body)
	}
	for {
		r = await(t, "poll after the outage", poll, 10*time.Second)
		if r[0] != "200" || r[1] != "h\n" {
			break
		}
		poll = request("POST", edge+"/000/"+id+"/xhr", "", nil) // a heartbeat before the echo
	}
	if r[0] != "200" || r[1] != `a["after"]`+"\n" {
		t.Fatalf("poll after the outage: %s %q, want the echo", r[0], r[1])
	}
}

// Two services sharing one Store and Bus keep their sessions apart, even
// under the same session id.
func testClusterServicesShareTheEngineWithoutMixing(t *testing.T, e Engine) {
	f := startCluster(t, e, 1, sockjs.Options{})
	other := sockjs.NewHandler(sockjs.Options{Cluster: &sockjs.Cluster{
		Store: f.nodes[0].store, Bus: f.nodes[0].bus, Service: "other", Secret: testSecret,
	}}, func(ctx context.Context, s *sockjs.Session) { _ = s.Send("other service") })
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = other.Shutdown(ctx)
	}()
	srv := httptest.NewServer(other)
	defer srv.Close()
	if code, body := post(t, f.nodes[0].srv.URL+"/echo/000/same/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("echo service: %d %q", code, body)
	}
	if code, body := post(t, srv.URL+"/000/same/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("other service with the same session id: %d %q, want a session of its own", code, body)
	}
	if code, body := post(t, srv.URL+"/000/same/xhr", ""); code != 200 || body != "a[\"other service\"]\n" {
		t.Fatalf("other service's session: %d %q", code, body)
	}
}
