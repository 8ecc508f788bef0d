package nats_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/sockjs"
)

// The cluster as deployed on NATS: the callback transports through the
// proxy, idle carried requests, dead nodes, NATS restarts.

// request makes a request in the background; its result arrives on the
// channel: the status and the body read until the response ends (or the
// error that ended it, appended as "error: ...").
func request(method, url, body, contentType string) <-chan [2]string {
	out := make(chan [2]string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
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

// post makes one request and returns the status and body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	r := await(t, "POST "+url, request("POST", url, body, ""), 25*time.Second)
	var code int
	fmt.Sscan(r[0], &code)
	return code, r[1]
}

func open(t *testing.T, base, id string) {
	t.Helper()
	if code, body := post(t, base+"/000/"+id+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open %s at %s: %d %q", id, base, code, body)
	}
}

// jsonp polling and jsonp_send, which the Go client does not speak, echo
// through the round-robin proxy: each poll and send lands on the next node.
func TestClusterJSONPThroughRoundRobinProxy(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{AllowJSONP: true})
	base := f.proxy.URL + "/echo/000/jsonp1"
	if r := await(t, "open", request("GET", base+"/jsonp?c=cb", "", ""), 10*time.Second); r[1] != `/**/cb("o");`+"\r\n" {
		t.Fatalf("jsonp open: %s %q", r[0], r[1])
	}
	const n = 30
	for i := range n {
		r := await(t, "send", request("POST", base+"/jsonp_send", "d="+url.QueryEscape(fmt.Sprintf(`["m%d ☃"]`, i)), "application/x-www-form-urlencoded"), 10*time.Second)
		if r[0] != "200" || r[1] != "ok" {
			t.Fatalf("jsonp_send %d: %s %q", i, r[0], r[1])
		}
	}
	var got strings.Builder
	for !strings.Contains(got.String(), fmt.Sprintf(`m%d \u2603`, n-1)) && !strings.Contains(got.String(), fmt.Sprintf("m%d ☃", n-1)) {
		r := await(t, "poll", request("GET", base+"/jsonp?c=cb", "", ""), 10*time.Second)
		if r[0] != "200" || !strings.HasPrefix(r[1], `/**/cb("a[`) {
			t.Fatalf("jsonp poll: %s %q", r[0], r[1])
		}
		got.WriteString(r[1])
	}
	for i := range n {
		if c := strings.Count(got.String(), fmt.Sprintf(`m%d `, i)); c != 1 {
			t.Fatalf("message m%d arrived %d times: %q", i, c, got.String())
		}
	}
}

// An htmlfile stream carried through the proxy gets what is sent through
// other nodes.
func TestClusterHTMLFileThroughRoundRobinProxy(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	base := f.proxy.URL + "/echo/000/html1"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/htmlfile?c=cb", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	readUntil := func(want string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if strings.Contains(line, want) {
				return
			}
			if err != nil {
				t.Fatalf("htmlfile stream ended before %q: %v", want, err)
			}
		}
	}
	readUntil(`p("o");`)
	for i := range 10 {
		if code, _ := post(t, base+"/xhr_send", fmt.Sprintf(`["h%d"]`, i)); code != 204 {
			t.Fatalf("send %d: %d", i, code)
		}
		readUntil(fmt.Sprintf(`h%d`, i))
	}
}

// A carried request may wait exactly as long as a local one: an idle poll
// and an idle stream on a node that does not own their session get the
// heartbeat after the heartbeat delay, although that is longer than the
// forward timeout.
func TestClusterIdleCarriedRequestsWaitForTheHeartbeat(t *testing.T) {
	f := &clusterFixture{nats: natstest.Start(t), forwardTimeout: time.Second}
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
				start := time.Now()
				r := await(t, "idle poll", request(tc.method, edge+"/000/"+id+"/"+tc.transport+tc.query, "", ""), 15*time.Second)
				if r[0] != "200" || !strings.Contains(r[1], tc.heartbeat) {
					t.Fatalf("idle carried poll: %s %q, want the heartbeat %q", r[0], r[1], tc.heartbeat)
				}
				if d := time.Since(start); d < 2*time.Second {
					t.Fatalf("the idle poll ended after %v, before the heartbeat delay", d)
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

// A node that dies loses only its own sessions: once its lease runs out
// the next request gets a close frame, and the other nodes' sessions go on.
func TestClusterNodeDeathEndsOnlyItsSessions(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	n1, n2, n3 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo", f.nodes[2].srv.URL+"/echo"
	open(t, n1, "doomed")
	open(t, n2, "survivor")
	ws := dial(t, n2, client.WebSocket)
	f.nodes[0].crash()
	time.Sleep(3 * time.Second) // the 1 s lease runs out (JetStream expires in whole seconds)
	if code, body := post(t, n3+"/000/doomed/xhr", ""); code != 200 || body != "c[1011,\"Session lost\"]\n" {
		t.Fatalf("poll for the dead node's session: %d %q, want the 1011 close frame", code, body)
	}
	if code, _ := post(t, n2+"/000/doomed/xhr_send", `["x"]`); code != 404 {
		t.Fatalf("send to the dead node's session: %d, want 404", code)
	}
	if code, _ := post(t, n3+"/000/survivor/xhr_send", `["alive"]`); code != 204 {
		t.Fatalf("send to a surviving session: %d", code)
	}
	if code, body := post(t, n3+"/000/survivor/xhr", ""); code != 200 || body != "a[\"alive\"]\n" {
		t.Fatalf("poll of a surviving session: %d %q", code, body)
	}
	if err := ws.Send("ws alive"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ws); got != "ws alive" {
		t.Fatalf("websocket on a surviving node got %q", got)
	}
}

// Requests for the sessions of a node killed a moment ago get the
// session's close frame (the dead node hears nothing: PublishCount says so
// at once), and a carried request in flight ends.
func TestClusterDeadOwnerIsToldAtOnce(t *testing.T) {
	f := &clusterFixture{nats: natstest.Start(t), forwardTimeout: 3 * time.Second}
	f.start(t, 2, sockjs.Options{})
	open(t, f.nodes[0].srv.URL+"/echo", "s")
	edge := f.nodes[1].srv.URL + "/echo"
	inFlight := request("POST", edge+"/000/s/xhr_streaming", "", "")
	time.Sleep(300 * time.Millisecond)
	f.nodes[0].crash()
	r := await(t, "a poll right after the owner died", request("POST", edge+"/000/s/xhr", "", ""), 10*time.Second)
	if r[0] != "200" || r[1] != "c[1011,\"Session lost\"]\n" {
		t.Fatalf("poll for the dead node's session: %s %q, want the 1011 close frame", r[0], r[1])
	}
	if r := await(t, "the stream in flight", inFlight, 10*time.Second); r[0] != "200" {
		t.Fatalf("carried stream of a dead owner: %s %q", r[0], r[1])
	}
}

// A process restarted under the same node name while other nodes still
// serve requests its predecessor carried never gets another session's
// frames.
func TestClusterRestartedNodeNeverCrossesSessions(t *testing.T) {
	f := &clusterFixture{nats: natstest.Start(t), forwardTimeout: 2 * time.Second}
	f.start(t, 2, sockjs.Options{})
	owner := f.nodes[0].srv.URL + "/echo"
	open(t, owner, "x")
	open(t, owner, "y")
	_ = request("POST", f.nodes[1].srv.URL+"/echo/000/x/xhr", "", "") // carried, idle
	time.Sleep(300 * time.Millisecond)
	f.nodes[1].crash()
	restarted := f.startNode(t, "n2", sockjs.Options{})
	pollY := request("POST", restarted.srv.URL+"/echo/000/y/xhr", "", "")
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

// A NATS outage never blocks local websocket sessions, refuses HTTP
// requests it cannot route with 503, and the cluster recovers by itself,
// whether NATS comes back with its data or without.
func TestClusterNATSOutageAndRecovery(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprint("empty=", empty), func(t *testing.T) {
			// Sessions wait for their client's next request longer than
			// the outage lasts; the nodes have half a lease (2 s) after the
			// first of them registers again to claim their sessions back.
			f := (&clusterFixture{nats: natstest.Start(t), lease: 4 * time.Second}).start(t, 2, sockjs.Options{DisconnectDelay: time.Minute})
			n1, n2 := f.nodes[0].srv.URL+"/echo", f.nodes[1].srv.URL+"/echo"
			open(t, n1, "kept") // an HTTP session that lives through the outage
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
			// A node that first registers after NATS came back empty is
			// new to the cluster: it starts no recovery, and the others'
			// sessions would be lost (as on Redis).
			f.waitRegistered(t)
			f.nats.Stop()
			if err := ws.WriteMessage(websocket.TextMessage, []byte(`["during outage"]`)); err != nil {
				t.Fatal(err)
			}
			if got := readWS(); got != `a["during outage"]` {
				t.Fatalf("websocket echo during the outage: %q", got)
			}
			if code, body := post(t, f.proxy.URL+"/echo/000/newsess/xhr", ""); code != http.StatusServiceUnavailable {
				t.Fatalf("new HTTP session during the outage: %d %q, want 503", code, body)
			}
			if !empty {
				// With its data NATS still holds n1's registration, which
				// lapsed during the outage: n1's sessions are lost, as on
				// Redis (a new session must work, below).
				f.nats.Start(t)
			} else {
				f.nats.RestartEmpty(t)
				checkClaimedBack(t, n2+"/000/kept")
			}
			// New sessions work again once the nodes have registered again
			// (one created before its node learns that its registration
			// lapsed is closed with the others).
			deadline := time.Now().Add(20 * time.Second)
			for !echoes(f.proxy.URL + "/echo") {
				if time.Now().After(deadline) {
					t.Fatal("the cluster did not recover within 20s of NATS coming back")
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// checkClaimedBack checks that the session at base, owned by a node when
// NATS came back empty, is reachable again through another node: its owner
// claimed it back.
func checkClaimedBack(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := post(t, base+"/xhr_send", `["after"]`)
		if code == 204 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session from before the outage is not reachable through another node 20s after NATS came back: %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := post(t, base+"/xhr", ""); code != 200 || body != "a[\"after\"]\n" {
		t.Fatalf("poll of the session from before the outage: %d %q", code, body)
	}
}

// echoes reports whether a new xhr-polling session at url echoes a message.
func echoes(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{Transports: []string{client.XHRPolling}})
	if err != nil {
		return false
	}
	defer c.Close(1000, "")
	if err := c.Send("after"); err != nil {
		return false
	}
	m, err := c.Recv(ctx)
	return err == nil && m == "after"
}
