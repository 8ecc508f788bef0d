package nats

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxToken bounds an escaped token; a longer one is replaced by a hash, so
// that a subject stays well under the server's control-line limit (4 KiB
// by default) whatever the topic name or session id.
const maxToken = 256

// token turns any string into one NATS subject token that is also valid in
// a JetStream key-value key: ASCII letters, digits, '-', '_' and '/' stand
// for themselves; every other byte is '=' and two upper-case hex digits;
// the empty string is "=". Distinct strings give distinct tokens: '='
// always starts an escape, so "=" alone and "==" never come from a
// non-empty string. A token longer than maxToken becomes "==" and the hex
// SHA-256 of the string (distinct unless SHA-256 collides).
func token(s string) string {
	if s == "" {
		return "="
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if plain(s[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n > maxToken {
		sum := sha256.Sum256([]byte(s))
		return "==" + hex.EncodeToString(sum[:])
	}
	if n == len(s) {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// plain reports whether c stands for itself in a token.
func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '/'
}
