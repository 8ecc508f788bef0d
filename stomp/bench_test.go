package stomp

import (
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/redis"
)

// BenchmarkTopicFanOut measures one SEND to a topic with 100 subscribers
// on the in-memory bus, up to the frames queued on each subscriber's
// transport: decode, route, encode once, per-subscriber prefix.
func BenchmarkTopicFanOut(b *testing.B) {
	srv := NewServer(Config{})
	defer srv.Close()
	const subs = 100
	var clients []*client
	for i := range subs {
		c := dialBench(b, srv)
		c.send("CONNECT", "", "accept-version", "1.2")
		c.send("SUBSCRIBE", "", "id", strconv.Itoa(i), "destination", "/topic/bench", "receipt", "r")
		c.expect("CONNECTED")
		c.expect("RECEIPT")
		clients = append(clients, c)
	}
	pub := dialBench(b, srv)
	pub.send("CONNECT", "", "accept-version", "1.2")
	pub.expect("CONNECTED")
	frame, _ := Encode(&Frame{Command: CmdSend, Header: Header{{"destination", "/topic/bench"}, {"content-type", "text/plain"}, {"x-seq", "1"}}, Body: make([]byte, 200)})
	msg := string(frame)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pub.p.in <- msg
		for _, c := range clients {
			<-c.p.out
		}
	}
}

// dialBench is dial for benchmarks: a transport queue deep enough for the
// run.
func dialBench(b *testing.B, srv *Server) *client {
	c := &client{t: b, p: newPipe(1 << 12), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		srv.serve(b.Context(), c.p, &ConnectRequest{})
	}()
	b.Cleanup(func() { c.p.Close(1000, ""); <-c.done })
	return c
}

// BenchmarkSendTo100 measures one SEND to a topic with 100 subscribers,
// from the publisher's frame to the MESSAGE queued on the last
// subscriber's transport, one message at a time: CPU per message (user +
// system, every goroutine of the process) and the latency's p50 and p99.
// "one-node" runs on the in-memory bus; "two-nodes" on two Servers sharing
// a private Redis through the cluster's bus, 50 subscribers on each and
// the publisher on the first (skipped without redis-server outside CI).
//
// "one-node-history" keeps history (memory) on the topic.
//
//	go test -run '^$' -bench SendTo100 -benchtime 2000x ./stomp
func BenchmarkSendTo100(b *testing.B) {
	b.Run("one-node", func(b *testing.B) {
		srv := NewServer(Config{})
		defer srv.Close()
		benchSend(b, []*Server{srv})
	})
	b.Run("one-node-history", func(b *testing.B) {
		srv := NewServer(Config{History: topicHistory})
		defer srv.Close()
		benchSend(b, []*Server{srv})
	})
	b.Run("two-nodes", func(b *testing.B) {
		rs := startRedis(b)
		var nodes []*Server
		for range 2 {
			rdb, err := redis.NewClient(rs.URL())
			if err != nil {
				b.Fatal(err)
			}
			bus := redis.NewBus(rdb, redis.BusOptions{Prefix: "stompbench:"})
			srv := NewServer(Config{Bus: bus})
			b.Cleanup(func() {
				srv.Close()
				bus.Close()
				rdb.Close()
			})
			nodes = append(nodes, srv)
		}
		benchSend(b, nodes)
	})
}

func benchSend(b *testing.B, nodes []*Server) {
	const subs = 100
	var clients []*client
	for i := range subs {
		c := dialBench(b, nodes[i%len(nodes)])
		c.send("CONNECT", "", "accept-version", "1.2")
		c.send("SUBSCRIBE", "", "id", strconv.Itoa(i), "destination", "/topic/bench100", "receipt", "r")
		c.expect("CONNECTED")
		c.expect("RECEIPT")
		clients = append(clients, c)
	}
	pub := dialBench(b, nodes[0])
	pub.send("CONNECT", "", "accept-version", "1.2")
	pub.expect("CONNECTED")
	frame, _ := Encode(&Frame{Command: CmdSend, Header: Header{{"destination", "/topic/bench100"}, {"content-type", "text/plain"}}, Body: make([]byte, 200)})
	msg := string(frame)
	lat := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		pub.p.in <- msg
		for _, c := range clients {
			<-c.p.out
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecover1000 measures a SUBSCRIBE with x-stream-offset that
// recovers 1000 missed messages (200-byte bodies), up to the last MESSAGE
// queued on the subscriber's transport: on one node (memory) and on Redis.
//
//	go test -run '^$' -bench Recover1000 -benchtime 50x ./stomp
func BenchmarkRecover1000(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		srv := NewServer(Config{History: topicHistory})
		defer srv.Close()
		benchRecover(b, srv)
	})
	b.Run("redis", func(b *testing.B) {
		rs := startRedis(b)
		rdb, err := redis.NewClient(rs.URL())
		if err != nil {
			b.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{Prefix: "stompbenchrec:"})
		cfg := Config{Bus: bus, History: topicHistory}
		cfg.History.Store = bus.History()
		srv := NewServer(cfg)
		b.Cleanup(func() {
			srv.Close()
			bus.Close()
			rdb.Close()
		})
		benchRecover(b, srv)
	})
}

func benchRecover(b *testing.B, srv *Server) {
	const n = 1000
	pub := dialBench(b, srv)
	pub.send("CONNECT", "", "accept-version", "1.2")
	pub.expect("CONNECTED")
	body := string(make([]byte, 200))
	for i := range n {
		h := []string{"destination", "/topic/rec"}
		if i == n-1 {
			h = append(h, "receipt", "p")
		}
		pub.send("SEND", body, h...)
	}
	pub.expect("RECEIPT")
	b.ResetTimer()
	for i := range b.N {
		c := &client{t: b, p: newPipe(2 * n), done: make(chan struct{})}
		go func() {
			defer close(c.done)
			srv.serve(b.Context(), c.p, &ConnectRequest{})
		}()
		c.send("CONNECT", "", "accept-version", "1.2")
		c.expect("CONNECTED")
		c.send("SUBSCRIBE", "", "id", strconv.Itoa(i), "destination", "/topic/rec", HdrStreamOffset, "offset=1")
		for range n {
			<-c.p.out
		}
		b.StopTimer()
		c.p.Close(1000, "")
		<-c.done
		b.StartTimer()
	}
}
