package benchmarks

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// broadcastSessions is the fan-out of BenchmarkBroadcast: modest, so that
// the clients, their readers and both servers fit a small machine.
const broadcastSessions = 1000

// fanout is n websocket clients, each with a reader goroutine that counts
// the messages it gets.
type fanout struct {
	conns     []*websocket.Conn
	remaining atomic.Int64  // messages still to arrive in this round
	done      chan struct{} // a token when remaining reaches zero
	errs      chan error
	readers   sync.WaitGroup
}

// openFanout dials n websocket sessions and starts their readers.
func openFanout(srv *server, n int) (*fanout, error) {
	f := &fanout{done: make(chan struct{}, 1), errs: make(chan error, n)}
	for range n {
		conn, err := dialWS(srv.base)
		if err != nil {
			f.close()
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Time{}) // idle readers; rounds have their own timeout
		f.conns = append(f.conns, conn)
	}
	for _, conn := range f.conns {
		f.readers.Add(1)
		go f.read(conn)
	}
	if err := srv.awaitSessions(n); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *fanout) read(conn *websocket.Conn) {
	defer f.readers.Done()
	var buf []byte
	for {
		var err error
		buf, err = readMessages(conn, buf)
		if err != nil {
			f.errs <- err // buffered for every reader; read only in a round
			return
		}
		if f.remaining.Add(-int64(bytes.Count(buf, []byte(`"tick"`)))) == 0 {
			f.done <- struct{}{}
		}
	}
}

// round broadcasts one message and waits until every client has it.
func (f *fanout) round(broadcast func(string), t *time.Timer) error {
	f.remaining.Store(int64(len(f.conns)))
	t.Reset(timeout)
	broadcast("tick")
	select {
	case <-f.done:
		return nil
	case err := <-f.errs:
		return err
	case <-t.C:
		return fmt.Errorf("broadcast: %d of %d clients still waiting after %v", f.remaining.Load(), len(f.conns), timeout)
	}
}

func (f *fanout) close() {
	for _, c := range f.conns {
		c.Close()
	}
	f.readers.Wait()
}

// BenchmarkBroadcast measures the time from a broadcast until all 1000
// websocket clients have the message: Handler.Broadcast for Sockline, a
// loop calling Send on every session for sockjs-go. It reports deliveries
// per second.
func BenchmarkBroadcast(b *testing.B) {
	b.Run(fmt.Sprintf("sessions=%d", broadcastSessions), func(b *testing.B) {
		eachImpl(b, func(b *testing.B, im impl) {
			srv := im.start(b)
			defer srv.close()
			f, err := openFanout(srv, broadcastSessions)
			if err != nil {
				b.Fatal(err)
			}
			defer f.close()
			t := time.NewTimer(timeout)
			defer t.Stop()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if err := f.round(srv.broadcast, t); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(b.N*broadcastSessions)/b.Elapsed().Seconds(), "deliveries/s")
		})
	})
}
