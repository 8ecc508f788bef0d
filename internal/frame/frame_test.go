package frame

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendQuoteRoundTripsThroughJSON(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r <= 0x10ffff; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		all.WriteRune(r)
	}
	cases := []string{"", "hello", `quote " and \ back`, "\x00\x01\x1f\x7f", "\u2028\u2029", "😀 astral", "</script><!--", all.String()}
	for _, in := range cases {
		q := AppendQuote(nil, in)
		var out string
		if err := json.Unmarshal(q, &out); err != nil {
			t.Fatalf("AppendQuote(%q) = %q is not JSON: %v", trunc(in), trunc(string(q)), err)
		}
		if out != in {
			t.Fatalf("round trip of %q gave %q", trunc(in), trunc(out))
		}
		h := AppendQuoteHTML(nil, in)
		out = ""
		if err := json.Unmarshal(h, &out); err != nil || out != in {
			t.Fatalf("AppendQuoteHTML round trip of %q failed: %v", trunc(in), err)
		}
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestAppendQuoteEscapesEveryEscapableCodePoint(t *testing.T) {
	for r := rune(0); r <= 0x10ffff; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		q := string(AppendQuote(nil, string(r)))
		raw := strings.ContainsRune(q, r)
		if Escapable(r) && raw {
			t.Fatalf("U+%04X must be escaped, got %q", r, q)
		}
		if !Escapable(r) && r >= 0x20 && r != '"' && r != '\\' && !raw {
			t.Fatalf("U+%04X must be sent as is, got %q", r, q)
		}
	}
	// The ranges the SockJS protocol names explicitly.
	for _, rg := range [][2]rune{{0, 0x1f}, {0x200c, 0x200f}, {0x2028, 0x202f}, {0x2060, 0x206f}, {0xfeff, 0xfeff}, {0xfff0, 0xffff}} {
		for r := rg[0]; r <= rg[1]; r++ {
			if !Escapable(r) {
				t.Errorf("U+%04X not escapable", r)
			}
		}
	}
}

func TestAppendQuoteAstralAsSurrogatePair(t *testing.T) {
	got := string(AppendQuote(nil, "😀"))
	if got != `"\ud83d\ude00"` {
		t.Fatalf("got %s", got)
	}
}

func TestAppendQuoteInvalidUTF8(t *testing.T) {
	got := string(AppendQuote(nil, "a\xffb"))
	if got != `"a\ufffdb"` {
		t.Fatalf("got %s", got)
	}
}

func TestAppendQuoteHTMLLeavesNoMarkup(t *testing.T) {
	got := string(AppendQuoteHTML(nil, `</script><!-- & 'x'`))
	if strings.ContainsAny(got, "<>&'") {
		t.Fatalf("markup left in %s", got)
	}
}

func TestFrames(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"close", AppendClose(nil, 3000, "Go away!"), `c[3000,"Go away!"]`},
		{"another", AppendClose(nil, CodeAnotherConnection, ReasonAnotherConnection), `c[2010,"Another connection still open"]`},
		{"empty batch", AppendMessages(nil, nil), `a[]`},
		{"batch", AppendMessages(nil, [][]byte{AppendQuote(nil, "x"), AppendQuote(nil, `"y"`)}), `a["x","\"y\""]`},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %s want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestDecodeMessages(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{``, nil, ErrEmptyPayload},
		{"  \n", nil, ErrEmptyPayload},
		{`[]`, []string{}, nil},
		{`["a"]`, []string{"a"}, nil},
		{` [ "a" , "b\"c" ,"\u00e9\ud83d\ude00" ] `, []string{"a", `b"c`, "é😀"}, nil},
		{`"single"`, []string{"single"}, nil},
		{`["\ud800"]`, []string{"\ufffd"}, nil},
		{`["\ud800\u0041"]`, []string{"\ufffdA"}, nil},
		{`["a\/b\b\f\n\r\t"]`, []string{"a/b\b\f\n\r\t"}, nil},
		{`["a`, nil, ErrBrokenJSON},
		{`["a",]`, nil, ErrBrokenJSON},
		{`[1]`, nil, ErrBrokenJSON},
		{`{"a":1}`, nil, ErrBrokenJSON},
		{`["a"]x`, nil, ErrBrokenJSON},
		{"[\"a\x01\"]", nil, ErrBrokenJSON},
		{`["\x"]`, nil, ErrBrokenJSON},
		{`["\u12"]`, nil, ErrBrokenJSON},
		{`[`, nil, ErrBrokenJSON},
	}
	for _, tt := range tests {
		got, err := DecodeMessages([]byte(tt.in))
		if !errors.Is(err, tt.err) {
			t.Errorf("DecodeMessages(%q) error %v, want %v", tt.in, err, tt.err)
			continue
		}
		if strings.Join(got, "\x00|") != strings.Join(tt.want, "\x00|") || len(got) != len(tt.want) {
			t.Errorf("DecodeMessages(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecodeMessages checks the hand-written decoder against encoding/json:
// it accepts exactly the arrays of strings (and single strings) that
// encoding/json accepts, with the same values, and never panics.
func FuzzDecodeMessages(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `"x"`, `[]`, `["\ud83d\ude00"]`, `["\ud800x"]`, "[\"\xff\"]", `["a"`, ` [ ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeMessages(data)
		var arr []string
		var one string
		refErr := json.Unmarshal(data, &arr)
		ref := arr
		if refErr != nil || arr == nil {
			if err1 := json.Unmarshal(data, &one); err1 == nil && strings.TrimSpace(string(data)) != "null" && len(strings.TrimSpace(string(data))) > 0 && strings.TrimSpace(string(data))[0] == '"' {
				refErr, ref = nil, []string{one}
			}
		}
		if refErr != nil || ref == nil {
			if err == nil {
				t.Fatalf("accepted %q as %q; encoding/json refuses it", data, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused %q (%v); encoding/json gives %q", data, err, ref)
		}
		if len(got) != len(ref) {
			t.Fatalf("%q: got %q want %q", data, got, ref)
		}
		for i := range got {
			if got[i] != ref[i] {
				t.Fatalf("%q: message %d got %q want %q", data, i, got[i], ref[i])
			}
			if !utf8.ValidString(got[i]) {
				t.Fatalf("invalid UTF-8 in %q", got[i])
			}
		}
	})
}

// FuzzQuote checks that every string survives AppendQuote and the decoder.
func FuzzQuote(f *testing.F) {
	f.Add("hello")
	f.Add("\u2028</script>\x00😀\xff")
	f.Fuzz(func(t *testing.T, s string) {
		frame := AppendMessages(nil, [][]byte{AppendQuote(nil, s), AppendQuoteHTML(nil, s)})
		msgs, err := DecodeMessages(frame[1:])
		if err != nil {
			t.Fatalf("decode %q: %v", frame, err)
		}
		var b strings.Builder
		for _, r := range s { // each invalid byte becomes one U+FFFD, as in AppendQuote
			b.WriteRune(r)
		}
		want := b.String()
		if len(msgs) != 2 || msgs[0] != want || msgs[1] != want {
			t.Fatalf("round trip of %q gave %q", s, msgs)
		}
	})
}

func BenchmarkAppendQuoteASCII(b *testing.B) {
	s := strings.Repeat("hello world ", 10)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendQuote(buf[:0], s)
	}
}

func BenchmarkAppendQuoteUnicode(b *testing.B) {
	s := strings.Repeat("héllo wörld \u2028 😀 ", 10)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendQuote(buf[:0], s)
	}
}

func BenchmarkAppendMessages(b *testing.B) {
	q := make([][]byte, 16)
	for i := range q {
		q[i] = AppendQuote(nil, "message number something")
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessages(buf[:0], q)
	}
}

func BenchmarkDecodeMessages(b *testing.B) {
	data := []byte(`["hello world","second message","third \u00e9 message"]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeMessages(data); err != nil {
			b.Fatal(err)
		}
	}
}
