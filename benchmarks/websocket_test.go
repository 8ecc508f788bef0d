package benchmarks

import (
	"bytes"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkWebsocketEcho measures one round trip: the client sends ["msg"]
// and waits for a["msg"] from the echo application.
func BenchmarkWebsocketEcho(b *testing.B) {
	eachImpl(b, func(b *testing.B, im impl) {
		srv := im.start(b)
		defer srv.close()
		conn, err := dialWS(srv.base)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		out, want := []byte(`["msg"]`), []byte(`a["msg"]`)
		var buf []byte
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			deadline := time.Now().Add(timeout)
			_ = conn.SetWriteDeadline(deadline)
			_ = conn.SetReadDeadline(deadline)
			if err := conn.WriteMessage(websocket.TextMessage, out); err != nil {
				b.Fatal(err)
			}
			buf, err = readMessages(conn, buf)
			if err != nil {
				b.Fatal(err)
			}
			if !bytes.Equal(buf, want) {
				b.Fatalf("got %q, want %q", buf, want)
			}
		}
		cpu.report(b)
	})
}

// pipelineDepth is how many messages BenchmarkWebsocketPipelined sends
// before it reads any answer.
const pipelineDepth = 100

// BenchmarkWebsocketPipelined sends 100 messages, one websocket message
// each, then reads until all 100 are echoed. A server may batch several
// answers into one a[...] frame. It reports messages per second.
func BenchmarkWebsocketPipelined(b *testing.B) {
	eachImpl(b, func(b *testing.B, im impl) {
		srv := im.start(b)
		defer srv.close()
		conn, err := dialWS(srv.base)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		out, msg := []byte(`["p"]`), []byte(`"p"`)
		var buf []byte
		frames := 0
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			deadline := time.Now().Add(timeout)
			_ = conn.SetWriteDeadline(deadline)
			_ = conn.SetReadDeadline(deadline)
			for range pipelineDepth {
				if err := conn.WriteMessage(websocket.TextMessage, out); err != nil {
					b.Fatal(err)
				}
			}
			for got := 0; got < pipelineDepth; frames++ {
				buf, err = readMessages(conn, buf)
				if err != nil {
					b.Fatal(err)
				}
				got += bytes.Count(buf, msg)
			}
		}
		cpu.report(b)
		b.ReportMetric(float64(b.N*pipelineDepth)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
	})
}
