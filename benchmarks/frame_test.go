package benchmarks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sockline/sockline/internal/frame"
)

// frameInputs are the messages of BenchmarkFrameEncode.
var frameInputs = []struct{ name, msg string }{
	{"ascii-short", "hello, world 42"},
	{"ascii-1KiB", strings.Repeat("The quick brown fox jumps over the lazy dog 0123456789 ", 19)[:1024]},
	{"unicode-mixed", "Привет, 世界! naïve café — “quotes” \"q\" \\ tab\t nl\n 😀 ls\u2028 <b>&amp;</b>"},
}

// frameBatches are the numbers of messages encoded into one frame.
var frameBatches = []int{1, 16}

// encodeSockline is what a Sockline session does with messages given to
// Session.Send: each is quoted on its own (frame.Quote, one allocation
// per message, as session.Send does), then the receiver joins the queue into
// one frame in its reused buffer (frame.AppendMessages).
func encodeSockline(dst []byte, quoted [][]byte, msgs []string) []byte {
	for i, m := range msgs {
		quoted[i] = frame.Quote(m)
	}
	return frame.AppendMessages(dst, quoted)
}

// encodeSockjsGo reproduces sockjs-go v3.0.3's unexported encoder:
// wsReceiver.sendBulk and httpReceiver.sendBulk both run
//
//	fmt.Sprintf("a[%s]", strings.Join(transform(messages, quote), ","))
//
// where quote (utils.go) is json.Marshal of the string converted to a string,
// and transform maps it over a new slice. These are the same public steps.
// v3.0.3 has no escaping pass of its own beyond json.Marshal, which escapes
// <, >, & and U+2028/U+2029 but leaves other characters SockJS escapes (and
// characters outside the BMP) as raw UTF-8, so on unicode-mixed the outputs
// differ (Sockline's is longer); on ASCII input without those they are
// byte-for-byte equal (see TestFrameEncodersAgree). Its websocket writer
// then converts the string to []byte, which is not counted here.
func encodeSockjsGo(msgs []string) string {
	return fmt.Sprintf("a[%s]", strings.Join(transformSockjsGo(msgs, quoteSockjsGo), ","))
}

// quoteSockjsGo is sockjs-go v3.0.3's quote (utils.go).
func quoteSockjsGo(in string) string {
	quoted, _ := json.Marshal(in)
	return string(quoted)
}

// transformSockjsGo is sockjs-go v3.0.3's transform (utils.go).
func transformSockjsGo(values []string, transformFn func(string) string) []string {
	ret := make([]string, len(values))
	for i, msg := range values {
		ret[i] = transformFn(msg)
	}
	return ret
}

func batchOf(msg string, n int) []string {
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = msg
	}
	return msgs
}

// BenchmarkFrameEncode encodes a batch of messages into one a[...] frame.
// Bytes per op (MB/s) count the messages' own bytes.
func BenchmarkFrameEncode(b *testing.B) {
	for _, in := range frameInputs {
		for _, n := range frameBatches {
			msgs := batchOf(in.msg, n)
			b.Run(fmt.Sprintf("msg=%s/batch=%d", in.name, n), func(b *testing.B) {
				b.Run("impl=sockline", func(b *testing.B) {
					quoted := make([][]byte, len(msgs))
					var buf []byte
					b.ReportAllocs()
					b.SetBytes(int64(len(in.msg) * n))
					cpu := startCPU()
					for b.Loop() {
						buf = encodeSockline(buf[:0], quoted, msgs)
					}
					cpu.report(b)
				})
				b.Run("impl=sockjs-go", func(b *testing.B) {
					var out string
					b.ReportAllocs()
					b.SetBytes(int64(len(in.msg) * n))
					cpu := startCPU()
					for b.Loop() {
						out = encodeSockjsGo(msgs)
					}
					cpu.report(b)
					_ = out
				})
			})
		}
	}
}

func TestFrameEncodersAgree(t *testing.T) {
	for _, in := range frameInputs {
		for _, n := range frameBatches {
			msgs := batchOf(in.msg, n)
			ours := string(encodeSockline(nil, make([][]byte, n), msgs))
			theirs := encodeSockjsGo(msgs)
			// Both must be valid JSON arrays of the same strings.
			for name, f := range map[string]string{"sockline": ours, "sockjs-go": theirs} {
				var got []string
				if err := json.Unmarshal([]byte(f[1:]), &got); err != nil || f[0] != 'a' {
					t.Fatalf("%s, %s: %q is not an a frame: %v", in.name, name, f, err)
				}
				if len(got) != n || got[0] != in.msg {
					t.Fatalf("%s, %s: decodes to %q", in.name, name, got)
				}
			}
			if strings.HasPrefix(in.name, "ascii") && ours != theirs {
				t.Errorf("%s: encoders differ:\n%s\n%s", in.name, ours, theirs)
			}
		}
	}
}
