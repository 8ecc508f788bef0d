//go:build !race

// The race detector's instrumentation allocates: these counts hold
// without it.

package frame

import (
	"testing"
	"unicode/utf8"
)

// allocInputs are messages of every kind the encoder treats differently.
var allocInputs = map[string]string{
	"ascii":   allocASCII,
	"unicode": allocUnicode,
	"json":    allocJSON,
	"control": "a\x00b\x1fc\x7f\n\t\r\"\\",
	"invalid": "bad \xff\xfe utf-8 \xc3",
	"empty":   "",
}

// assertAllocs fails t unless f allocates exactly want times per run.
func assertAllocs(t *testing.T, name string, want float64, f func()) {
	t.Helper()
	if got := testing.AllocsPerRun(100, f); got != want {
		t.Errorf("%s: %v allocations per run, want %v", name, got, want)
	}
}

// The encoders allocate nothing when the buffer has room: a receiver
// reuses its buffer for every frame. Into a new buffer (a polling
// receiver's first frame), AppendMessages allocates once.
func TestAllocsEncodeIntoBuffer(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for name, s := range allocInputs {
		assertAllocs(t, "AppendQuote "+name, 0, func() { buf = AppendQuote(buf[:0], s) })
		assertAllocs(t, "AppendQuoteHTML "+name, 0, func() { buf = AppendQuoteHTML(buf[:0], s) })
		b := []byte(s)
		assertAllocs(t, "AppendQuoteHTMLBytes "+name, 0, func() { buf = AppendQuoteHTMLBytes(buf[:0], b) })
		if got, want := string(AppendQuoteHTMLBytes(nil, b)), string(AppendQuoteHTML(nil, s)); got != want {
			t.Errorf("AppendQuoteHTMLBytes %s = %s, AppendQuoteHTML = %s", name, got, want)
		}
	}
	q := make([][]byte, 16)
	for i := range q {
		q[i] = Quote(allocJSON)
	}
	assertAllocs(t, "AppendMessages", 0, func() { buf = AppendMessages(buf[:0], q) })
	assertAllocs(t, "AppendMessages into nil", 1, func() { _ = AppendMessages(nil, q) })
	assertAllocs(t, "AppendClose", 0, func() { buf = AppendClose(buf[:0], CodeGoAway, ReasonGoAway) })
}

// Quote allocates once, exactly the size of the result, whatever the
// escapes: Session.Send and NewMessage pay one allocation per message.
func TestAllocsQuote(t *testing.T) {
	for name, s := range allocInputs {
		assertAllocs(t, "Quote "+name, 1, func() { _ = Quote(s) })
		if q := Quote(s); cap(q) != len(q) {
			t.Errorf("Quote %s: cap %d, len %d: not sized exactly", name, cap(q), len(q))
		}
	}
}

// DecodeMessages allocates the slice once and each message once, escapes
// or not; AppendDecodeMessages into a slice with room, each message only.
func TestAllocsDecode(t *testing.T) {
	for name, s := range allocInputs {
		if !utf8.ValidString(s) || s == "" {
			continue // decoding invalid UTF-8 may grow the string once more; "" needs no allocation
		}
		for _, n := range []int{1, 16} {
			data := allocBatch(s, n)
			assertAllocs(t, "DecodeMessages "+name, float64(n+1), func() {
				if _, err := DecodeMessages(data); err != nil {
					t.Fatal(err)
				}
			})
			msgs := make([]string, 0, 16)
			assertAllocs(t, "AppendDecodeMessages "+name, float64(n), func() {
				var err error
				if msgs, err = AppendDecodeMessages(msgs[:0], data); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	single := []byte(`"hello"`)
	assertAllocs(t, "DecodeMessages of a bare string", 2, func() { _, _ = DecodeMessages(single) })
}

// Unquote allocates the string once; AppendUnquote into a buffer with room
// allocates nothing (the raw websocket's writer unquotes every message
// with an escape).
func TestAllocsUnquote(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for name, s := range allocInputs {
		q := Quote(s)
		assertAllocs(t, "AppendUnquote "+name, 0, func() {
			var err error
			if buf, err = AppendUnquote(buf[:0], q); err != nil {
				t.Fatal(err)
			}
		})
		want := 1.0
		if len(q) == 2 {
			want = 0 // ""
		}
		if utf8.ValidString(s) {
			assertAllocs(t, "Unquote "+name, want, func() { _, _ = Unquote(q) })
		}
	}
}

// quotedLen is exactly the length AppendQuote writes, so Quote never grows
// its buffer.
func FuzzQuotedLen(f *testing.F) {
	for _, s := range allocInputs {
		f.Add(s)
	}
	f.Add("\u2028\u2029\ufeff\U0001F600\xed\xa0\x80")
	f.Fuzz(func(t *testing.T, s string) {
		if n, want := quotedLen(s, &asciiSafe), len(AppendQuote(nil, s)); n != want {
			t.Fatalf("quotedLen(%q) = %d, AppendQuote wrote %d", s, n, want)
		}
		if n, want := quotedLen(s, &htmlSafe), len(AppendQuoteHTML(nil, s)); n != want {
			t.Fatalf("quotedLen(%q, html) = %d, AppendQuoteHTML wrote %d", s, n, want)
		}
	})
}
