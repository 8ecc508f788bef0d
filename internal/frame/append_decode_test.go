package frame

import (
	"slices"
	"testing"
)

// AppendDecodeMessages is DecodeMessages appended to dst: the same messages
// after dst's, and on error dst as it was, with nothing left behind in its
// spare capacity (a reused slice must not keep strings alive).
func FuzzAppendDecodeMessages(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `"x"`, `[]`, `["a"`, `["a" "b"]`, `["a",1]`, `"a" x`, ` [ "\u00e9" ] `, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := DecodeMessages(data)
		dst := make([]string, 1, 8)
		dst[0] = "before"
		got, err := AppendDecodeMessages(dst, data)
		if err != wantErr {
			t.Fatalf("%q: error %v, DecodeMessages says %v", data, err, wantErr)
		}
		if err != nil {
			if len(got) != 1 || got[0] != "before" {
				t.Fatalf("%q: on error got %q, want dst unchanged", data, got)
			}
			if spare := dst[1:cap(dst)]; slices.ContainsFunc(spare, func(s string) bool { return s != "" }) {
				t.Fatalf("%q: strings left in the spare capacity: %q", data, spare)
			}
			return
		}
		if !slices.Equal(got[1:], want) || got[0] != "before" {
			t.Fatalf("%q: got %q, want %q after \"before\"", data, got, want)
		}
	})
}

// AppendUnquote is Unquote appended to dst, and leaves dst's length alone
// on error.
func FuzzAppendUnquote(f *testing.F) {
	for _, s := range []string{`"a"`, `"a\"b"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `"a`, `"a" `, `x`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, q []byte) {
		want, wantErr := Unquote(q)
		dst := append(make([]byte, 0, 64), "before"...)
		got, err := AppendUnquote(dst, q)
		if err != wantErr {
			t.Fatalf("%q: error %v, Unquote says %v", q, err, wantErr)
		}
		if err != nil {
			if string(got) != "before" {
				t.Fatalf("%q: on error got %q, want dst unchanged", q, got)
			}
			return
		}
		if string(got) != "before"+want {
			t.Fatalf("%q: got %q, want %q after \"before\"", q, got, want)
		}
	})
}

// AppendQuoteHTMLBytes quotes bytes exactly as AppendQuoteHTML quotes the
// same text as a string.
func FuzzAppendQuoteHTMLBytes(f *testing.F) {
	for _, s := range []string{"", "a</script>", "\u2028\xff'&", `"\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dst := append(make([]byte, 0, 8), "p("...)
		if got, want := AppendQuoteHTMLBytes(dst, b), AppendQuoteHTML([]byte("p("), string(b)); !slices.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", b, got, want)
		}
	})
}
