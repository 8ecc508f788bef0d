package stomp

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/presence"
)

var topicHistory = HistoryConfig{Rules: []history.Rule{{Pattern: "/topic/*", Bounds: history.Bounds{Size: 1000, TTL: 10 * time.Minute}}}}

// publish sends bodies to dest from c and waits for the broker to take them.
func (c *client) publish(dest string, bodies ...string) {
	c.t.Helper()
	for i, b := range bodies {
		h := []string{"destination", dest}
		if i == len(bodies)-1 {
			h = append(h, "receipt", "p")
		}
		c.send("SEND", b, h...)
	}
	c.expect("RECEIPT")
}

// bodies reads n MESSAGEs and returns their bodies; it checks that their
// offsets follow one another and share one epoch.
func (c *client) bodies(n int) (out []string, last history.Position) {
	c.t.Helper()
	for range n {
		f := c.expect("MESSAGE")
		off, err := strconv.ParseUint(f.Header.Get(HdrStreamOffset), 10, 64)
		if err != nil || f.Header.Get(HdrStreamEpoch) == "" {
			c.t.Fatalf("MESSAGE without its position: %v", f.Header)
		}
		if last.Epoch != "" && (off != last.Offset+1 || f.Header.Get(HdrStreamEpoch) != last.Epoch) {
			c.t.Fatalf("offset %d@%s after %v", off, f.Header.Get(HdrStreamEpoch), last)
		}
		last = history.Position{Offset: off, Epoch: f.Header.Get(HdrStreamEpoch)}
		out = append(out, string(f.Body))
	}
	return out, last
}

func TestHistoryStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		offset    string
		epoch     bool // give the topic's epoch back
		want      []string
		recovered string
	}{
		{offset: "first", want: []string{"a", "b", "c", "d", "e"}},
		{offset: "last", want: []string{"e"}},
		{offset: "next", want: nil},
		{offset: "offset=3", want: []string{"c", "d", "e"}, recovered: "true"},
		{offset: "offset=3", epoch: true, want: []string{"c", "d", "e"}, recovered: "true"},
		{offset: "offset=6", want: nil, recovered: "true"}, // nothing missed
		{offset: "offset=0", want: []string{"a", "b", "c", "d", "e"}, recovered: "true"},
		{offset: "offset=9", want: nil, recovered: "false"}, // ahead of the topic
	}
	for _, tc := range tests {
		t.Run(tc.offset+"/"+strconv.FormatBool(tc.epoch), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, Config{History: topicHistory})
			pub := connect(t, srv, "")
			pub.publish("/topic/h", "a", "b", "c", "d", "e")
			sub := connect(t, srv, "")
			// the epoch, from a subscription from the first message
			sub.send("SUBSCRIBE", "", "id", "probe", "destination", "/topic/h", HdrStreamOffset, "last")
			_, top := sub.bodies(1)
			h := []string{"id", "s", "destination", "/topic/h", HdrStreamOffset, tc.offset, "receipt", "r"}
			if tc.epoch {
				h = append(h, HdrStreamEpoch, top.Epoch)
			}
			sub.send("UNSUBSCRIBE", "", "id", "probe")
			sub.send("SUBSCRIBE", "", h...)
			r := sub.expect("RECEIPT")
			if got := r.Header.Get(HdrStreamRecovered); got != tc.recovered {
				t.Fatalf("RECEIPT %s %q, want %q", HdrStreamRecovered, got, tc.recovered)
			}
			got, _ := sub.bodies(len(tc.want))
			if strconv.Quote(join(got)) != strconv.Quote(join(tc.want)) {
				t.Fatalf("replayed %q, want %q", got, tc.want)
			}
			sub.quiet()
			pub.publish("/topic/h", "live")
			f := sub.expect("MESSAGE")
			if string(f.Body) != "live" || f.Header.Get(HdrStreamOffset) != "6" || f.Header.Get(HdrStreamEpoch) != top.Epoch {
				t.Fatalf("live message %v %q", f.Header, f.Body)
			}
			if len(tc.want) == 0 && f.Header.Get(HdrStreamRecovered) != tc.recovered {
				t.Fatalf("first MESSAGE %s %q, want %q", HdrStreamRecovered, f.Header.Get(HdrStreamRecovered), tc.recovered)
			}
		})
	}
}

func join(s []string) string {
	var out string
	for _, x := range s {
		out += x + ","
	}
	return out
}

// An unknown epoch recovers nothing and says so; a bad x-stream-offset is
// refused.
func TestHistoryWrongEpoch(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{History: topicHistory})
	pub := connect(t, srv, "")
	pub.publish("/topic/h", "a", "b")
	sub := connect(t, srv, "")
	sub.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/h", HdrStreamOffset, "offset=1", HdrStreamEpoch, "not-this-one", "receipt", "r")
	if r := sub.expect("RECEIPT"); r.Header.Get(HdrStreamRecovered) != "false" {
		t.Fatalf("RECEIPT %v", r.Header)
	}
	pub.publish("/topic/h", "c")
	f := sub.expect("MESSAGE")
	if string(f.Body) != "c" || f.Header.Get(HdrStreamRecovered) != "false" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	bad := connect(t, srv, "")
	bad.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/h", HdrStreamOffset, "offset=x")
	bad.expectError("x-stream-offset must be")
}

// A subscriber that goes away and comes back from its last offset gets every
// message published meanwhile, in order, once, then the live ones, while a
// publisher keeps publishing; on one node (memory) and on two nodes sharing
// Redis, where it comes back on the other node.
func TestHistoryRecoverAfterReconnect(t *testing.T) {
	t.Parallel()
	for _, cluster := range []bool{false, true} {
		t.Run("cluster="+strconv.FormatBool(cluster), func(t *testing.T) {
			t.Parallel()
			var a, b *Server
			if cluster {
				a, b = historyNodes(t)
			} else {
				a = newServer(t, Config{History: topicHistory})
				b = a
			}
			const n = 300
			pub := connect(t, a, "")
			sub := connect(t, a, "")
			sub.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/r", HdrStreamOffset, "next", "receipt", "r")
			sub.expect("RECEIPT")
			var wg sync.WaitGroup
			wg.Add(1)
			start := make(chan struct{})
			go func() {
				defer wg.Done()
				<-start
				for i := range n {
					pub.send("SEND", strconv.Itoa(i), "destination", "/topic/r")
					if i%50 == 0 {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}()
			close(start)
			got, last := sub.bodies(40)
			sub.p.Close(1000, "cut") // the connection drops mid-stream
			<-sub.done

			again := connect(t, b, "")
			again.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/r",
				HdrStreamOffset, "offset="+strconv.FormatUint(last.Offset+1, 10), HdrStreamEpoch, last.Epoch, "receipt", "r2")
			if r := again.expect("RECEIPT"); r.Header.Get(HdrStreamRecovered) != "true" {
				t.Fatalf("RECEIPT %v", r.Header)
			}
			rest, _ := again.bodies(n - len(got))
			got = append(got, rest...)
			for i, s := range got {
				if s != strconv.Itoa(i) {
					t.Fatalf("message %d is %q (got %q)", i, s, got)
				}
			}
			wg.Wait()
			again.quiet()
		})
	}
}

// The history lost (Redis restarted empty): the subscriber is told it
// cannot recover, gets nothing old, and the messages go on in a new epoch.
func TestHistoryLost(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	a, _ := historyNodesOn(t, rs.URL())
	pub := connect(t, a, "")
	pub.publish("/topic/l", "a", "b", "c")
	sub := connect(t, a, "")
	sub.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/l", HdrStreamOffset, "first")
	_, last := sub.bodies(3)
	probe := connect(t, a, "")
	probe.send("SUBSCRIBE", "", "id", "p", "destination", "/topic/probe", "receipt", "pr")
	probe.expect("RECEIPT")
	rs.Restart(t)
	// Until the node's bus connection is back (go-redis redials it and
	// subscribes its channels again), a message published is missed, and a
	// subscriber would rightly be told it missed one. A message reaching the
	// probe, subscribed before the restart like the topic, shows it is back.
	for deadline := time.Now().Add(waitFor); ; time.Sleep(50 * time.Millisecond) {
		ping := connect(t, a, "") // an ERROR (Redis still away) closes it
		ping.send("SEND", "ping", "destination", "/topic/probe", "receipt", "q")
		if r := ping.next(); r.Command == "RECEIPT" {
			if f, ok := probe.tryNext(time.Second); ok && f.Command == "MESSAGE" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the node's bus did not come back after Redis restarted")
		}
	}
	var again *client
	for deadline := time.Now().Add(waitFor); ; time.Sleep(50 * time.Millisecond) {
		again = connect(t, a, "")
		again.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/l",
			HdrStreamOffset, "offset=2", HdrStreamEpoch, last.Epoch, "receipt", "r")
		f, ok := again.tryNext(time.Second)
		if ok && f.Command == "RECEIPT" {
			if f.Header.Get(HdrStreamRecovered) != "false" {
				t.Fatalf("RECEIPT after the history was lost: %v", f.Header)
			}
			break
		}
		if time.Now().After(deadline) { // the bus reconnects to the new Redis
			t.Fatal("no RECEIPT for a SUBSCRIBE after Redis restarted")
		}
	}
	again.quiet()
	var f *Frame
	for deadline := time.Now().Add(waitFor); ; {
		pub.send("SEND", "new", "destination", "/topic/l", "receipt", "p")
		if r := pub.next(); r.Command == "RECEIPT" {
			if g, ok := again.tryNext(time.Second); ok {
				f = g
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after the history was lost")
		}
	}
	if string(f.Body) != "new" || f.Header.Get(HdrStreamEpoch) == last.Epoch || f.Header.Get(HdrStreamOffset) != "1" || f.Header.Get(HdrStreamRecovered) != "false" {
		t.Fatalf("first message after the history was lost: %v %q", f.Header, f.Body)
	}
}

func historyNodes(t *testing.T) (*Server, *Server) {
	return historyNodesOn(t, startRedis(t).URL())
}

// historyNodesOn returns two nodes sharing the Redis at url, with history on
// every topic.
func historyNodesOn(t *testing.T, url string) (*Server, *Server) {
	t.Helper()
	node := func() *Server {
		rdb, err := redis.NewClient(url)
		if err != nil {
			t.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{Prefix: "stomphist:"})
		cfg := Config{Bus: bus, History: topicHistory}
		cfg.History.Store = bus.History()
		srv := NewServer(cfg)
		t.Cleanup(func() {
			srv.Close()
			bus.Close()
			rdb.Close()
		})
		return srv
	}
	return node(), node()
}

// presenceEvent reads one presence event MESSAGE.
func (c *client) presenceEvent() presence.Event {
	c.t.Helper()
	f := c.expect("MESSAGE")
	var ev presence.Event
	if err := json.Unmarshal(f.Body, &ev); err != nil {
		c.t.Fatalf("presence event %q: %v", f.Body, err)
	}
	return ev
}

// members reads the members of /topic/room with SUBSCRIBE /app/presence/room.
func (c *client) members(id string) string {
	c.t.Helper()
	c.send("SUBSCRIBE", "", "id", id, "destination", "/app/presence/room")
	f := c.expect("MESSAGE")
	c.send("UNSUBSCRIBE", "", "id", id)
	var ms []presence.Member
	if err := json.Unmarshal(f.Body, &ms); err != nil {
		c.t.Fatalf("members %q: %v", f.Body, err)
	}
	var infos []string
	for _, m := range ms {
		infos = append(infos, m.Info)
	}
	sort.Strings(infos)
	return strings.Join(infos, ",")
}

// Presence across two nodes on Redis: joins and leaves reach the watchers
// of every node, the members are read from any node, and the members of a
// node that dies (stops renewing) leave within the TTL.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	node := func() *Server {
		rdb, err := redis.NewClient(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{Prefix: "stomppres:"})
		// a TTL of 3 s (renewed every 1 s) outlasts a loaded machine's
		// stalls; a dead node's members are announced within TTL + TTL/3
		// (4 s), inside presenceEvent's wait (waitFor, 10 s)
		srv := NewServer(Config{Bus: bus, Authenticate: LoginAuthenticator,
			Presence: PresenceConfig{Enabled: true, Store: bus.Presence(), TTL: 3 * time.Second}})
		t.Cleanup(func() {
			srv.Close()
			bus.Close()
			rdb.Close()
		})
		return srv
	}
	a, b := node(), node()
	watch := connect(t, a, "watcher")
	watch.send("SUBSCRIBE", "", "id", "ev", "destination", "/topic/presence.room", "receipt", "r")
	watch.expect("RECEIPT")

	ann := connect(t, a, "ann")
	ann.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/room", HdrPresence, "true", "receipt", "r")
	ann.expect("RECEIPT")
	bob := connect(t, b, "bob")
	bob.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/room", HdrPresence, "true", HdrPresenceInfo, "Bob B", "receipt", "r")
	bob.expect("RECEIPT")
	for _, want := range []string{"ann", "Bob B"} {
		if ev := watch.presenceEvent(); !ev.Joined || ev.Member.Info != want || ev.Topic != "/topic/room" {
			t.Fatalf("event %+v, want %s joined", ev, want)
		}
	}
	if got := watch.members("m"); got != "Bob B,ann" {
		t.Fatalf("members %q", got)
	}
	ann.send("UNSUBSCRIBE", "", "id", "1")
	if ev := watch.presenceEvent(); ev.Joined || ev.Member.Info != "ann" {
		t.Fatalf("event %+v, want ann left", ev)
	}
	// bob's session dies: it leaves
	bob.p.Close(1000, "gone")
	<-bob.done
	if ev := watch.presenceEvent(); ev.Joined || ev.Member.Info != "Bob B" {
		t.Fatalf("event %+v, want Bob B left", ev)
	}
	// a node dies: its members expire and a node still there announces it
	carl := connect(t, b, "carl")
	carl.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/room", HdrPresence, "true", "receipt", "r")
	carl.expect("RECEIPT")
	dan := connect(t, a, "dan")
	dan.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/room", HdrPresence, "true", "receipt", "r")
	dan.expect("RECEIPT")
	watch.presenceEvent()
	watch.presenceEvent()
	b.presence.close() // node b stops renewing (as if it died)
	if ev := watch.presenceEvent(); ev.Joined || ev.Member.Info != "carl" {
		t.Fatalf("event %+v, want carl expired", ev)
	}
	if got := watch.members("m2"); got != "dan" {
		t.Fatalf("members %q after node b died", got)
	}
}

// A live message that skips one (the bus lost it) ends the connection with
// an ERROR that says to resubscribe from the last offset, rather than
// delivering a stream with a hole.
func TestHistoryGapFails(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{History: topicHistory})
	pub := connect(t, srv, "")
	pub.publish("/topic/g", "a")
	sub := connect(t, srv, "")
	sub.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/g", HdrStreamOffset, "last", "receipt", "r")
	sub.expect("RECEIPT")
	_, last := sub.bodies(1)
	lost := history.Position{Offset: last.Offset + 2, Epoch: last.Epoch}
	if err := srv.cfg.Bus.Publish(context.Background(), "/topic/g", history.Frame(lost, []byte("\nafter a hole\x00"))); err != nil {
		t.Fatal(err)
	}
	sub.expectError("resubscribe from the last x-stream-offset")
}

// parseStreamStart accepts exactly first, last, next and offset=N.
func FuzzStreamStart(f *testing.F) {
	for _, s := range []string{"first", "last", "next", "offset=0", "offset=18446744073709551615", "offset=-1", "offset=", "timestamp=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseStreamStart(s)
		if err != nil {
			return
		}
		again := st.kind
		if st.kind == "offset" {
			again = "offset=" + strconv.FormatUint(st.n, 10)
		}
		if st2, err := parseStreamStart(again); err != nil || st2 != st {
			t.Fatalf("%q read as %+v, which reads back as %+v, %v", s, st, st2, err)
		}
	})
}
