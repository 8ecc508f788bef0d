package stomp

import (
	"strconv"
	"testing"
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
