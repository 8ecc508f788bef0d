package frame

import (
	"errors"
	"strings"
	"testing"
)

func TestUnquote(t *testing.T) {
	for _, in := range []string{"", "plain", `"q" \ </script>`, "\x00\n\u2028\ufffe😀", strings.Repeat("é", 100)} {
		for _, q := range [][]byte{AppendQuote(nil, in), AppendQuoteHTML(nil, in)} {
			got, err := Unquote(q)
			if err != nil || got != in {
				t.Errorf("Unquote(%q) = %q, %v; want %q", q, got, err, in)
			}
		}
	}
	for _, bad := range []string{``, `"`, `"a`, `"a" `, ` "a"`, `["a"]`, `"a"b`, `"\x"`} {
		if got, err := Unquote([]byte(bad)); !errors.Is(err, ErrBrokenJSON) {
			t.Errorf("Unquote(%q) = %q, %v; want ErrBrokenJSON", bad, got, err)
		}
	}
}

// FuzzUnquote checks that Unquote inverts AppendQuote.
func FuzzUnquote(f *testing.F) {
	f.Add("a\u2028\x00😀\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		for _, r := range s { // each invalid byte becomes one U+FFFD, as in AppendQuote
			want.WriteRune(r)
		}
		got, err := Unquote(AppendQuote(nil, s))
		if err != nil || got != want.String() {
			t.Fatalf("Unquote(AppendQuote(%q)) = %q, %v", s, got, err)
		}
	})
}
