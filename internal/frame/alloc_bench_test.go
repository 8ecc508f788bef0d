package frame

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Allocation benchmarks of the frame codec (issue 14, item 5). Run with
//
//	go test -run '^$' -bench Alloc -benchmem ./internal/frame
//
// The encoding side appends into buffers the caller reuses and should not
// allocate at all once they have grown; the decoding side returns strings
// to the application, so one string per message is its floor.

var (
	allocASCII   = strings.Repeat("hello world ", 10)
	allocUnicode = strings.Repeat("héllo wörld \u2028 😀 ", 10)
	// allocJSON is what an application typically sends: JSON, whose
	// quotes the client escapes inside the SockJS string.
	allocJSON = `{"type":"chat","user":"ann","text":"hello world, how are you today?","seq":12345}`
)

// BenchmarkAllocQuote quotes one message into a reused buffer (AppendQuote)
// and into a new one (Quote, as Session.Send and NewMessage do).
func BenchmarkAllocQuote(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"ascii", allocASCII}, {"unicode", allocUnicode}, {"json", allocJSON},
	} {
		b.Run("Append/"+tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.s)))
			for b.Loop() {
				buf = AppendQuote(buf[:0], tc.s)
			}
		})
		b.Run("Quote/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.s)))
			for b.Loop() {
				_ = Quote(tc.s)
			}
		})
	}
}

// BenchmarkAllocAppendMessages builds the "a" frame of a batch of 16
// quoted messages into a reused buffer, as Receiver.Next does.
func BenchmarkAllocAppendMessages(b *testing.B) {
	q := make([][]byte, 16)
	for i := range q {
		q[i] = Quote("message number " + strconv.Itoa(i))
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	m := countAllocs()
	for b.Loop() {
		buf = AppendMessages(buf[:0], q)
	}
	m.report(b, 16)
}

// allocBatch returns the payload a client sends for n messages: a JSON
// array of n quoted copies of msg.
func allocBatch(msg string, n int) []byte {
	q := make([][]byte, n)
	for i := range q {
		q[i] = Quote(msg)
	}
	return AppendMessages(nil, q)[1:] // without the 'a'
}

// BenchmarkAllocDecodeMessages decodes a client payload of 1 and of 16
// messages, plain ASCII (the fast path) and JSON (escaped quotes, the
// slow path).
func BenchmarkAllocDecodeMessages(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"ascii", "hello world, how are you today?"}, {"json", allocJSON}, {"unicode", allocUnicode},
	} {
		for _, n := range []int{1, 16} {
			b.Run(tc.name+"/msgs="+strconv.Itoa(n), func(b *testing.B) {
				data := allocBatch(tc.s, n)
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				m := countAllocs()
				for b.Loop() {
					msgs, err := DecodeMessages(data)
					if err != nil || len(msgs) != n {
						b.Fatal(len(msgs), err)
					}
				}
				m.report(b, n)
			})
		}
	}
}

// BenchmarkAllocAppendDecodeMessages is BenchmarkAllocDecodeMessages with
// the slice reused from one payload to the next, as a websocket reader can:
// only the messages' strings are allocated.
func BenchmarkAllocAppendDecodeMessages(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run("json/msgs="+strconv.Itoa(n), func(b *testing.B) {
			data := allocBatch(allocJSON, n)
			var msgs []string
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			m := countAllocs()
			for b.Loop() {
				var err error
				msgs, err = AppendDecodeMessages(msgs[:0], data)
				if err != nil || len(msgs) != n {
					b.Fatal(len(msgs), err)
				}
				clear(msgs)
			}
			m.report(b, n)
		})
	}
}

// allocCount is the process's allocation count when a benchmark loop
// started; report turns it into allocs/msg.
type allocCount uint64

func countAllocs() allocCount {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return allocCount(ms.Mallocs)
}

// report adds the metric allocs/msg: allocations since countAllocs per
// message, each of the b.N operations carrying perOp messages. Call it
// right after the b.Loop loop.
func (c allocCount) report(b *testing.B, perOp int) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-uint64(c))/float64(b.N*perOp), "allocs/msg")
}
