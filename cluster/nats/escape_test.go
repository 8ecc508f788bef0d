package nats

import (
	"strings"
	"testing"
)

func TestTokenEscapesWhatSubjectsAndKeysForbid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "="},
		{"room", "room"},
		{"sockline/default/node/n1#00ff", "sockline/default/node/n1=2300ff"},
		{"a.b", "a=2Eb"},
		{"*", "=2A"},
		{">", "=3E"},
		{"a b\tc\r\n", "a=20b=09c=0D=0A"},
		{"=", "=3D"},
		{"==", "=3D=3D"},
		{"host:8080", "host=3A8080"},
		{"☃", "=E2=98=83"},
		{"\x00\xff", "=00=FF"},
		{strings.Repeat("x", maxToken), strings.Repeat("x", maxToken)},
	} {
		if got := token(tc.in); got != tc.want {
			t.Errorf("token(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := token(strings.Repeat("x", maxToken+1))
	if !strings.HasPrefix(long, "==") || len(long) != 2+64 {
		t.Errorf("a long name's token is %q, want == and a SHA-256", long)
	}
	if token(strings.Repeat(".", 100)) == token(strings.Repeat(".", 101)) {
		t.Error("two long names share a token")
	}
}

// untoken inverts token for tokens that are not hashes; ok is false when
// tok is not something token makes.
func untoken(tok string) (string, bool) {
	if tok == "=" {
		return "", true
	}
	if tok == "" || strings.HasPrefix(tok, "==") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		if c != '=' || i+2 >= len(tok) {
			return "", false
		}
		h, l := unhex(tok[i+1]), unhex(tok[i+2])
		if h < 0 || l < 0 {
			return "", false
		}
		b.WriteByte(byte(h<<4 | l))
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// validToken reports whether tok is one subject token and valid in a
// JetStream key-value key: nats.go's rule for keys is [-/_=.a-zA-Z0-9]+.
func validToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !plain(c) && c != '=' {
			return false
		}
	}
	return true
}

// FuzzToken: every string gives one valid token that decodes back to it
// (or, when long, a hash token), so distinct names never share a subject.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "room", "a.b.c", "*>", " ", "=", "=3D", "☃", "\x00", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := token(s)
		if !validToken(tok) || len(tok) > maxToken && len(tok) != 66 {
			t.Fatalf("token(%q) = %q: not a valid subject token and key", s, tok)
		}
		if strings.HasPrefix(tok, "==") {
			if n := len(token(s + "x")); n != 66 {
				t.Fatalf("a longer name's token has length %d", n)
			}
			return
		}
		back, ok := untoken(tok)
		if !ok || back != s {
			t.Fatalf("token(%q) = %q decodes to %q (%v)", s, tok, back, ok)
		}
	})
}
