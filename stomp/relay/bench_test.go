package relay

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockline/sockline/stomp"
)

// BenchmarkFanout100 sends each message from one session to a topic that
// 100 other sessions subscribe to, through the relay and RabbitMQ, and waits
// for all 100 deliveries before the next SEND. It reports the latency of a
// delivery (from Forward to deliver), the CPU of this process (relay and
// test) and of the broker per SEND.
//
//	go test -run '^$' -bench Fanout100 -benchtime 2000x ./stomp/relay
func BenchmarkFanout100(b *testing.B) {
	br := needBroker(b)
	const subscribers = 100
	r := newRelay(b, testOptions(br.Addr()))
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, subscribers*b.N+subscribers)
		delivered atomic.Int64
		all       = make(chan struct{}, 1)
		want      atomic.Int64
		receipts  atomic.Int64 // of the SUBSCRIBEs
	)
	signal := func() {
		select {
		case all <- struct{}{}:
		default:
		}
	}
	deliver := func(f *stomp.Frame) {
		if f.Command == stomp.CmdReceipt {
			receipts.Add(1)
			signal()
			return
		}
		if f.Command != stomp.CmdMessage {
			return
		}
		sent, _ := strconv.ParseInt(f.Header.Get("x-sent"), 10, 64)
		lat := time.Duration(time.Now().UnixNano() - sent)
		mu.Lock()
		latencies = append(latencies, lat)
		mu.Unlock()
		if delivered.Add(1) >= want.Load() {
			signal()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var sessions []RelaySession
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	for i := range subscribers {
		s, err := r.Open(ctx, "guest", "guest", deliver, nil)
		if err != nil {
			b.Fatal(err)
		}
		sessions = append(sessions, s)
		sub := &stomp.Frame{Command: stomp.CmdSubscribe, Header: stomp.Header{
			{Key: "id", Value: "s" + strconv.Itoa(i)}, {Key: "destination", Value: "/topic/bench"},
			{Key: "receipt", Value: "r"},
		}}
		if err := s.Forward(ctx, sub); err != nil {
			b.Fatal(err)
		}
	}
	pub, err := r.Open(ctx, "guest", "guest", func(*stomp.Frame) {}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sessions = append(sessions, pub)
	send := func() {
		f := &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{
			{Key: "destination", Value: "/topic/bench"},
			{Key: "x-sent", Value: strconv.FormatInt(time.Now().UnixNano(), 10)},
		}, Body: []byte("a message of about the size of a chat line, 64 bytes or so.....")}
		want.Add(subscribers)
		if err := pub.Forward(ctx, f); err != nil {
			b.Fatal(err)
		}
		timeout := time.After(10 * time.Second)
		for delivered.Load() < want.Load() {
			select {
			case <-all:
			case <-timeout:
				b.Fatalf("%d of %d deliveries after 10 s", delivered.Load(), want.Load())
			}
		}
	}
	// Every subscription is bound once its RECEIPT came.
	for receipts.Load() < subscribers {
		select {
		case <-all:
		case <-ctx.Done():
			b.Fatalf("%d of %d subscriptions confirmed", receipts.Load(), subscribers)
		}
	}
	brokerCPU0, _ := br.CPUTime()
	selfCPU0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		send()
	}
	b.StopTimer()
	brokerCPU1, _ := br.CPUTime()
	selfCPU := cpuTime() - selfCPU0
	mu.Lock()
	slices.Sort(latencies)
	p := func(q float64) float64 { return float64(latencies[int(q*float64(len(latencies)-1))]) / 1e3 }
	b.ReportMetric(p(0.5), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
	mu.Unlock()
	b.ReportMetric(float64(selfCPU.Microseconds())/float64(b.N), "relay-cpu-µs/send")
	b.ReportMetric(float64((brokerCPU1-brokerCPU0).Microseconds())/float64(b.N), "broker-cpu-µs/send")
}

// cpuTime returns this process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
