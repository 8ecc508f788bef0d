package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// The cluster as deployed: idle carried requests, restarts under the same
// name, dead peers, lost messages, hostile neighbours on the engine.

// request makes a request in the background; its result arrives on the
// channel: the status and the body read until the response ends (or the
// error that ended it, appended as "error: ...").
func request(method, url, body string, header http.Header) <-chan [2]string {
	out := make(chan [2]string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- [2]string{"0", "error: " + err.Error()}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		s := string(b)
		if err != nil {
			s += "error: " + err.Error()
		}
		out <- [2]string{res.Status[:3], s}
	}()
	return out
}

func await(t *testing.T, what string, ch <-chan [2]string, within time.Duration) [2]string {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("%s: no answer within %v", what, within)
		return [2]string{}
	}
}

func open(t *testing.T, base, id string) {
	t.Helper()
	if code, body := post(t, base+"/000/"+id+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open %s at %s: %d %q", id, base, code, body)
	}
}

// A carried request may wait exactly as long as a local one: a receiving
// request of every HTTP transport, idle on a node that does not own its
// session, gets its heartbeat after the heartbeat delay, although that is
// longer than the forward timeout (before: 504 at the forward timeout, and
// the session was interrupted). The forward timeout is 2 s, not less: the
// edge gives a carried response up after that long without a word from
// the owner, whose keepalives come every quarter of it, and on a starved
// box a keepalive through a Redis Cluster once came later than 1 s.
func testClusterIdleCarriedRequestsWaitForTheHeartbeat(t *testing.T, e Engine) {
	f := &clusterFixture{engine: e, forwardTimeout: 2 * time.Second}
	f.start(t, 2, sockjs.Options{HeartbeatDelay: 3 * time.Second, AllowJSONP: true})
	owner, edge := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	for _, tc := range []struct {
		transport, method, query, heartbeat string
	}{
		{"xhr", "POST", "", "h\n"},
		{"jsonp", "GET", "?c=cb", `/**/cb("h");`},
		{"xhr_streaming", "POST", "", "h\n"},
		{"eventsource", "GET", "", "data: h\r\n"},
		{"htmlfile", "GET", "?c=cb", "p(\"h\");\n"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			id := "idle-" + tc.transport
			open(t, owner, id)
			if tc.transport == "xhr" || tc.transport == "jsonp" {
				r := await(t, "idle poll", request(tc.method, edge+"/000/"+id+"/"+tc.transport+tc.query, "", nil), 15*time.Second)
				if r[0] != "200" || !strings.Contains(r[1], tc.heartbeat) {
					t.Fatalf("idle carried poll: %s %q, want the heartbeat %q", r[0], r[1], tc.heartbeat)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tc.method, edge+"/000/"+id+"/"+tc.transport+tc.query, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("idle carried stream: %d", res.StatusCode)
			}
			br := bufio.NewReader(res.Body)
			var got strings.Builder
			for {
				line, err := br.ReadString('\n')
				got.WriteString(line)
				if line == tc.heartbeat || tc.transport == "htmlfile" && strings.HasSuffix(line, tc.heartbeat) {
					return
				}
				if err != nil {
					t.Fatalf("idle carried stream ended before its heartbeat: %v; read %q", err, got.String())
				}
			}
		})
	}
}

// A process restarted under the same node name while other nodes still
// serve requests its predecessor carried never gets another session's
// frames (before: exchange ids restarted at name/1, the owner overwrote the
// old exchange, and session Y's poll read session X's message).
func testClusterRestartedNodeNeverCrossesSessions(t *testing.T, e Engine) {
	f := &clusterFixture{engine: e, forwardTimeout: 2 * time.Second}
	f.start(t, 2, sockjs.Options{})
	owner := f.nodes[0].srv.URL + "/echo"
	open(t, owner, "x")
	open(t, owner, "y")
	_ = request("POST", f.nodes[1].srv.URL+"/echo/000/x/xhr", "", nil) // carried, idle
	time.Sleep(300 * time.Millisecond)
	f.nodes[1].crash()
	restarted := f.startNode(t, "n2", sockjs.Options{})
	pollY := request("POST", restarted.srv.URL+"/echo/000/y/xhr", "", nil)
	time.Sleep(300 * time.Millisecond)
	if code, _ := post(t, owner+"/000/x/xhr_send", `["secret for X"]`); code != 204 {
		t.Fatalf("send to X: %d", code)
	}
	time.Sleep(300 * time.Millisecond)
	if code, _ := post(t, owner+"/000/y/xhr_send", `["hello Y"]`); code != 204 {
		t.Fatalf("send to Y: %d", code)
	}
	r := await(t, "Y's poll", pollY, 10*time.Second)
	if r[0] != "200" || r[1] != "a[\"hello Y\"]\n" {
		t.Fatalf("Y's poll through the restarted node: %s %q, want only Y's message", r[0], r[1])
	}
}

// dropping is a node's bus that drops the node's outgoing messages of one
// tunnel kind while armed.
type dropping struct {
	pubsub.Counter
	kind  byte // the tunnel kind byte (the wire's second byte)
	armed atomic.Bool
}

func (d *dropping) drop(p []byte) bool { return d.armed.Load() && len(p) > 1 && p[1] == d.kind }

func (d *dropping) Publish(ctx context.Context, topic string, p []byte) error {
	_, err := d.PublishCount(ctx, topic, p)
	return err
}

func (d *dropping) PublishCount(ctx context.Context, topic string, p []byte) (int, error) {
	if d.drop(p) {
		return 1, nil // lost on the way
	}
	return d.Counter.PublishCount(ctx, topic, p)
}

// A lost acknowledgement fails the owner's write; the owner tells the edge,
// which ends the client's response at once instead of leaving it hanging
// (before: the edge waited for the owner to change in the store, while the
// session was already closed).
func testClusterLostAckEndsTheCarriedResponse(t *testing.T, e Engine) {
	var edgeBus *dropping
	f := &clusterFixture{engine: e, forwardTimeout: time.Second}
	f.wrapBus = func(name string, b pubsub.Counter) pubsub.Bus {
		if name != "n2" {
			return b
		}
		edgeBus = &dropping{Counter: b, kind: byte(tunnel.KindAck)}
		return edgeBus
	}
	// The owner waits for an acknowledgement as long as for a local write.
	f.start(t, 2, sockjs.Options{WriteTimeout: time.Second})
	owner := f.nodes[0].srv.URL + "/echo"
	open(t, owner, "s")
	br, stop := stream(t, f.nodes[1].srv.URL+"/echo/000/s/xhr_streaming")
	defer stop()
	if code, _ := post(t, owner+"/000/s/xhr_send", `["warm"]`); code != 204 {
		t.Fatalf("send: %d", code)
	}
	if got := readLine(t, br); got != `a["warm"]` {
		t.Fatalf("stream: %q", got)
	}
	time.Sleep(200 * time.Millisecond) // the acknowledgements so far get through
	edgeBus.armed.Store(true)
	// A stream's chunks are acknowledged a few at a time, and the owner
	// waits only once a window of them is unacknowledged: send a message
	// per chunk until the stream has ended (at most twice the window).
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range 16 {
			res, err := http.Post(owner+"/000/s/xhr_send", "text/plain", strings.NewReader(fmt.Sprintf(`["m%d"]`, i)))
			if err != nil {
				return
			}
			res.Body.Close()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() { <-sent }()
	ended := make(chan string, 1)
	go func() {
		var all strings.Builder
		for {
			l, err := br.ReadString('\n')
			all.WriteString(l)
			if err != nil {
				ended <- all.String() + "error: " + err.Error()
				return
			}
		}
	}()
	select {
	case got := <-ended:
		if strings.Contains(got, "c[") {
			t.Fatalf("stream after a lost ack: %q, want it ended without a close frame", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the carried stream still hangs 10s after its acknowledgement was lost")
	}
	<-sent
	// The session is interrupted (the unacknowledged writes' fate is
	// unknown): what was still queued comes first, then the close frame.
	for range 3 {
		code, body := post(t, owner+"/000/s/xhr", "")
		if code == 200 && body == "c[1002,\"Connection interrupted\"]\n" {
			return
		}
		if code != 200 || !strings.HasPrefix(body, "a[") {
			t.Fatalf("next poll: %d %q, want the queued messages or the session interrupted", code, body)
		}
	}
	t.Fatal("no close frame: the session went on after its writes failed")
}

// An edge that dies while it holds a carried poll frees the session's
// receiver on the owner (the owner's keepalive finds nobody listening),
// also with heartbeats off (before: 2010 for ever).
func testClusterDeadEdgeFreesTheReceiver(t *testing.T, e Engine) {
	f := &clusterFixture{engine: e, forwardTimeout: time.Second}
	f.start(t, 2, sockjs.Options{HeartbeatDelay: -1})
	owner := f.nodes[0].srv.URL + "/echo"
	open(t, owner, "s")
	_ = request("POST", f.nodes[1].srv.URL+"/echo/000/s/xhr", "", nil)
	time.Sleep(300 * time.Millisecond)
	f.nodes[1].crash()
	// A keepalive round (a third of the forward timeout) and the renewal
	// tick free the receiver in about 2 s; until then a poll is told another
	// connection is open, which leaves the session as it is. A starved box
	// may take longer, so wait for it, but not for ever: before, 2010 came
	// for ever.
	time.Sleep(2 * time.Second)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, body := post(t, owner+"/000/s/xhr", "")
		if code == 200 && body == "c[1002,\"Connection interrupted\"]\n" {
			return
		}
		if code != 200 || body != "c[2010,\"Another connection still open\"]\n" || time.Now().After(deadline) {
			t.Fatalf("poll after the edge died: %d %q, want the session interrupted, not 2010", code, body)
		}
	}
}

// Requests for the sessions of a node killed a moment ago get the session's
// close frame once its registration lapses (before: 504 after the forward
// timeout for every request, never 1011), and a carried request in flight
// ends within the forward timeout.
func testClusterDeadOwnerIsToldAtOnce(t *testing.T, e Engine) {
	f := &clusterFixture{engine: e, forwardTimeout: 3 * time.Second}
	f.start(t, 2, sockjs.Options{})
	open(t, f.nodes[0].srv.URL+"/echo", "s")
	edge := f.nodes[1].srv.URL + "/echo"
	inFlight := request("POST", edge+"/000/s/xhr_streaming", "", nil)
	time.Sleep(300 * time.Millisecond)
	f.nodes[0].crash()
	// Dead for the engine too: a message to it reaches nobody. Until the
	// engine has seen the dead process's connection close (a NATS server
	// takes a moment), a publish is taken as heard and lost, and the edge
	// learns of the death only when its forward timeout ends (504).
	probe := e.Connect(t, "probe", NodeOptions{})
	defer probe.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := probe.Bus.PublishCount(context.Background(), nodeTopic(f.nodes[0]), []byte("probe"))
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine still delivers to the dead node 10 s after it died (%d, %v)", n, err)
		}
	}
	r := await(t, "a poll right after the owner died", request("POST", edge+"/000/s/xhr", "", nil), 10*time.Second)
	if r[0] != "200" || r[1] != "c[1011,\"Session lost\"]\n" {
		t.Fatalf("poll for the dead node's session: %s %q, want the 1011 close frame", r[0], r[1])
	}
	r = await(t, "the stream in flight", inFlight, 10*time.Second)
	if r[0] != "200" {
		t.Fatalf("carried stream of a dead owner: %s %q", r[0], r[1])
	}
	// It ended (await would have failed otherwise); the client's next
	// request is told the session is lost, as above.
}

// Carried requests take only what the transports need: cookies and
// credentials never reach the engine; and a message forged on it without the
// cluster secret is dropped and counted, never written to a client.
func testClusterTunnelIsAuthenticatedAndCarriesNoCredentials(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{})
	owner, edge := f.nodes[0], f.nodes[1]
	var mu sync.Mutex
	var seen strings.Builder
	stopSpy := spyOn(t, e, f, func(p []byte) {
		mu.Lock()
		seen.Write(p)
		mu.Unlock()
	})
	spy := e.Connect(t, "spy", NodeOptions{})
	defer spy.Close()
	open(t, owner.srv.URL+"/echo", "s")
	secret := http.Header{"Cookie": {"SESSION=cookie-credential-1"}, "Authorization": {"Bearer token-credential-2"}}
	poll := request("POST", edge.srv.URL+"/echo/000/s/xhr", "", secret)
	time.Sleep(300 * time.Millisecond)

	// Forge a chunk for the edge's first exchange, as anyone on the engine could.
	forger, _ := tunnel.NewCodec([]byte("not the cluster secret, 32 bytes"))
	forged := forger.Encode(&tunnel.Msg{Kind: tunnel.KindChunk, Final: true, ID: edge.store.Node() + "/1",
		From: owner.store.Node(), Seq: 1, Status: 200, Body: []byte("a[\"injected\"]\n")})
	if err := spy.Bus.Publish(context.Background(), nodeTopic(edge), forged); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if code, _ := post(t, edge.srv.URL+"/echo/000/s/xhr_send", `["real"]`); code != 204 {
		t.Fatalf("send: %d", code)
	}
	r := await(t, "carried poll", poll, 10*time.Second)
	if r[1] != "a[\"real\"]\n" {
		t.Fatalf("carried poll: %s %q, want only the real message", r[0], r[1])
	}
	if got := edge.h.ClusterStats().Forged; got != 1 {
		t.Fatalf("ClusterStats().Forged = %d, want the 1 forged message counted", got)
	}
	stopSpy()
	mu.Lock()
	defer mu.Unlock()
	if s := seen.String(); strings.Contains(s, "credential") || !strings.Contains(s, "real") {
		t.Fatalf("what crossed the engine: credentials leaked (%v) or the spy saw nothing (%v)",
			strings.Contains(s, "credential"), !strings.Contains(s, "real"))
	}
}

// holding is a node's bus whose topic subscriptions wait until released.
type holding struct {
	pubsub.Counter
	release chan struct{}
}

func (h *holding) Subscribe(ctx context.Context, topic string, fn pubsub.Handler) (func(), error) {
	if strings.Contains(topic, "/topic/") {
		<-h.release
	}
	return h.Counter.Subscribe(ctx, topic, fn)
}

// A topic whose only subscriber on a node leaves while the node's bus
// subscription is being set up does not go deaf on that node: the next
// subscriber hears what is published (before: it joined the cancelled
// subscription and heard nothing).
func testClusterTopicSurvivesASubscriberLeavingMidSubscribe(t *testing.T, e Engine) {
	hold := make(chan struct{})
	f := &clusterFixture{engine: e}
	f.wrapBus = func(name string, b pubsub.Counter) pubsub.Bus {
		if name != "n1" {
			return b
		}
		return &holding{Counter: b, release: hold}
	}
	f.start(t, 2, sockjs.Options{})
	n1 := f.nodes[0]
	// A session whose handler subscribes on another goroutine and leaves.
	open(t, n1.srv.URL+"/echo", "leaver")
	id := <-n1.opened
	var leaver *sockjs.Session
	n1.h.Range(func(s *sockjs.Session) bool {
		if s.ID() == id {
			leaver = s
		}
		return true
	})
	subscribed := make(chan error, 1)
	go func() {
		_, err := n1.h.Subscribe(context.Background(), leaver, "room")
		subscribed <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if code, _ := post(t, n1.srv.URL+"/echo/000/leaver/xhr_send", `["close bye"]`); code != 204 {
		t.Fatalf("close the leaver: %d", code)
	}
	time.Sleep(200 * time.Millisecond)
	close(hold)
	<-subscribed
	// A later subscriber on the same node.
	c := dial(t, n1.srv.URL+"/echo", client.XHRPolling)
	if err := c.Send("sub room"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "ok sub room" {
		t.Fatalf("subscribe: %q", got)
	}
	if err := f.nodes[1].h.Publish(context.Background(), "room", "hello room"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "hello room" {
		t.Fatalf("the later subscriber got %q", got)
	}
}

// A client flooding carried sends at a session whose application does not
// read holds no more on either node than one session's sends would on one
// node: each side keeps at most two sends of a session in flight and
// answers the rest 503 at once (before: every body was read, carried and
// held on the owner while it waited its turn, up to the send timeout).
func testClusterFloodOfCarriedSendsIsBounded(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{MaxInboxBytes: 64 << 10})
	owner, edge := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	open(t, owner, "s")
	if code, _ := post(t, owner+"/000/s/xhr_send", `["stall"]`); code != 204 {
		t.Fatalf("stall: %d", code)
	}
	body := `["` + strings.Repeat("x", 32<<10) + `"]`
	const flood = 40
	answers := make([]<-chan [2]string, flood)
	for i := range answers {
		answers[i] = request("POST", edge+"/000/s/xhr_send", body, nil)
	}
	busy, accepted := 0, 0
	for i, a := range answers {
		r := await(t, "a flooding send", a, 20*time.Second)
		switch r[0] {
		case "503":
			busy++
		case "204":
			accepted++
		default:
			t.Fatalf("send %d: %s %q", i, r[0], r[1])
		}
	}
	// The inbox (64 KiB) takes two of these sends while the application
	// stalls; two more may be in flight. Everything else is refused.
	if accepted > 4 || busy < flood-4 {
		t.Fatalf("%d sends accepted and %d refused, want at most 2 of one session in flight beyond what its inbox holds", accepted, busy)
	}
	// Every accepted send is echoed, once: the application may still be
	// echoing the last ones when the first poll comes, so poll until they
	// are all there.
	echoed := 0
	for deadline := time.Now().Add(10 * time.Second); echoed < accepted && time.Now().Before(deadline); {
		code, b := post(t, owner+"/000/s/xhr", "")
		if code != 200 {
			t.Fatalf("poll: %d %q", code, b)
		}
		echoed += strings.Count(b, strings.Repeat("x", 32<<10))
	}
	if echoed != accepted {
		t.Fatalf("%d echoes; want the %d accepted sends echoed", echoed, accepted)
	}
}

// The owner does not wait for a poll's final chunk to be acknowledged; an
// edge that could not write it says so afterwards, and the owner closes the
// session then (its frames may not have reached the client). The word of
// another incarnation is not taken.
func testClusterLateNackClosesTheSession(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{})
	owner, edge := f.nodes[0], f.nodes[1]
	open(t, owner.srv.URL+"/echo", "s")
	if code, _ := post(t, owner.srv.URL+"/echo/000/s/xhr_send", `["m"]`); code != 204 {
		t.Fatalf("send: %d", code)
	}
	if code, body := post(t, edge.srv.URL+"/echo/000/s/xhr", ""); code != 200 || body != "a[\"m\"]\n" {
		t.Fatalf("carried poll: %d %q", code, body)
	}
	codec, err := tunnel.NewCodec(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	spy := e.Connect(t, "spy", NodeOptions{})
	defer spy.Close()
	nack := func(from string) {
		t.Helper()
		p := codec.Encode(&tunnel.Msg{Kind: tunnel.KindAck, ID: edge.store.Node() + "/1", From: from, Seq: 1, Err: "write: broken pipe"})
		if err := spy.Bus.Publish(context.Background(), nodeTopic(owner), p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	nack("someone#else")
	if code, _ := post(t, owner.srv.URL+"/echo/000/s/xhr_send", `["still open"]`); code != 204 {
		t.Fatalf("send after a stranger's nack: %d", code)
	}
	if code, body := post(t, owner.srv.URL+"/echo/000/s/xhr", ""); body != "a[\"still open\"]\n" {
		t.Fatalf("poll after a stranger's nack: %d %q, want the session going on", code, body)
	}
	nack(edge.store.Node())
	if code, body := post(t, owner.srv.URL+"/echo/000/s/xhr", ""); code != 200 || body != "c[1002,\"Connection interrupted\"]\n" {
		t.Fatalf("poll after the edge's nack: %d %q, want the session interrupted", code, body)
	}
}

// slowRelease is a node's store whose Release takes a while, as over a slow
// network.
type slowRelease struct{ cluster.Store }

func (s slowRelease) Release(ctx context.Context, id string) error {
	time.Sleep(3 * time.Second)
	return s.Store.Release(ctx, id)
}

// A request for a session its node forgot a moment ago (expired, its record
// being released) gets a new session as on one node, and that session keeps
// its record: other nodes carry its requests to it (before: the release
// deleted the new session's record, and the next request through another
// node created a third session under the id, a second open frame).
func testClusterSessionReopenedWhileItsReleaseIsUnderWay(t *testing.T, e Engine) {
	f := &clusterFixture{engine: e}
	f.wrapStore = func(name string, s cluster.Store) cluster.Store {
		if name == "n1" {
			return slowRelease{s}
		}
		return s
	}
	// A delay a loaded machine cannot stall the client's polls past.
	f.start(t, 2, sockjs.Options{DisconnectDelay: time.Second})
	n1, n2 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
	open(t, n1, "s")
	if code, _ := post(t, n1+"/000/s/xhr_send", `["close bye"]`); code != 204 {
		t.Fatalf("close: %d", code)
	}
	if code, body := post(t, n1+"/000/s/xhr", ""); body != "c[3001,\"bye\"]\n" {
		t.Fatalf("close frame: %d %q", code, body)
	}
	// Expired: the slow release (3 s) is under way.
	for deadline := time.Now().Add(10 * time.Second); f.nodes[0].h.Len() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the closed session was never forgotten")
		}
	}
	open(t, n1, "s") // a new session under the id, as on one node
	// Keep it alive with a waiting poll while the old release runs out.
	poll := request("POST", n1+"/000/s/xhr", "", nil)
	time.Sleep(3500 * time.Millisecond)
	if code, _ := post(t, n2+"/000/s/xhr_send", `["still here"]`); code != 204 {
		t.Fatalf("send through n2: %d, want the new session found through its record", code)
	}
	if r := await(t, "the new session's poll", poll, 10*time.Second); r[1] != "a[\"still here\"]\n" {
		t.Fatalf("poll: %s %q", r[0], r[1])
	}
}

// nodeTopic is the bus topic on which nd receives tunnel messages (the
// default service's).
func nodeTopic(nd *node) string { return "sockline/default/node/" + nd.store.Node() }

// spyOn calls fn with what crosses the engine: every payload when the
// engine is a Spier, else every payload on the nodes' tunnel topics. stop
// returns once fn is called no more.
func spyOn(t *testing.T, e Engine, f *clusterFixture, fn func([]byte)) (stop func()) {
	t.Helper()
	if ns, ok := e.(namespaced); ok {
		if stop, ok := ns.Spy(t, fn); ok {
			return stop
		}
	}
	conn := e.Connect(t, "spy-listener", NodeOptions{})
	var mu sync.Mutex
	stopped := false
	h := func(_ string, p []byte) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			fn(p)
		}
	}
	var cancels []func()
	for _, nd := range f.nodes {
		c, err := conn.Bus.Subscribe(context.Background(), nodeTopic(nd), h)
		if err != nil {
			t.Fatal(err)
		}
		cancels = append(cancels, c)
	}
	return func() {
		for _, c := range cancels {
			c()
		}
		conn.Close()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}
