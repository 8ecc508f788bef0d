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
//	go test -run '^$' -bench SendTo100 -benchtime 2000x ./stomp
func BenchmarkSendTo100(b *testing.B) {
	b.Run("one-node", func(b *testing.B) {
		srv := NewServer(Config{})
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
