package frame

import (
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// asciiSafe[b] is true for ASCII bytes that go into a JSON string as they are.
// htmlSafe additionally excludes the bytes that could end a <script> block or
// start markup when the JSON string is embedded in HTML or JavaScript source.
var asciiSafe, htmlSafe [utf8.RuneSelf]bool

func init() {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		asciiSafe[b] = b != '"' && b != '\\' && b != 0x7f
		htmlSafe[b] = asciiSafe[b] && b != '<' && b != '>' && b != '&' && b != '\''
	}
}

// Escapable reports whether SockJS sends r as a \u escape rather than as
// UTF-8. The set is the one sockjs-node escapes (and a superset of what the
// protocol test suite checks): control characters, invisible formatting
// characters, the JavaScript line terminators U+2028/U+2029, the byte order
// mark, the specials block, and every code point outside the Basic
// Multilingual Plane (sent as a UTF-16 surrogate pair, as JavaScript would).
func Escapable(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f, r == 0xad:
		return true
	case r >= 0x600 && r <= 0x604, r == 0x70f, r == 0x17b4, r == 0x17b5:
		return true
	case r >= 0x200c && r <= 0x200f, r >= 0x2028 && r <= 0x202f, r >= 0x2060 && r <= 0x206f:
		return true
	case r == 0xfeff, r >= 0xd800 && r <= 0xdfff, r >= 0xfff0:
		return true
	}
	return false
}

// AppendQuote appends s as a JSON string with SockJS's escaping. Invalid
// UTF-8 is replaced by U+FFFD. ASCII input without characters to escape
// takes a fast path that copies it whole.
func AppendQuote(dst []byte, s string) []byte {
	return appendQuote(dst, s, &asciiSafe)
}

// Quote returns s as a JSON string with SockJS's escaping, in exactly one
// allocation of exactly its size: a first pass measures the result (see
// quotedLen), so that escapes never make the buffer grow and a queued
// message holds no slack.
func Quote(s string) []byte {
	return appendQuote(make([]byte, 0, quotedLen(s, &asciiSafe)), s, &asciiSafe)
}

// quotedLen is len(appendQuote(nil, s, safe)), computed without writing.
func quotedLen(s string, safe *[utf8.RuneSelf]bool) int {
	n := 2 // the quotes
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case safe[b]:
				n++
			case b == '"', b == '\\', b == '\n', b == '\r', b == '\t':
				n += 2
			default:
				n += 6 // \uXXXX
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case !Escapable(r):
			n += size
		case r > 0xffff:
			n += 12 // a surrogate pair
		default:
			n += 6
		}
		i += size
	}
	return n
}

// AppendQuoteHTML is AppendQuote that also escapes <, >, & and ' so that the
// result can sit inside a <script> element or a JavaScript callback call
// without ending the element, opening a comment or being sniffed as markup.
func AppendQuoteHTML(dst []byte, s string) []byte {
	return appendQuote(dst, s, &htmlSafe)
}

// AppendQuoteHTMLBytes is AppendQuoteHTML of the text in b, without
// first copying b into a string: the htmlfile and jsonp envelopes quote
// whole frames, which are bytes. b must not share memory with dst's spare
// capacity, which the result is written into.
func AppendQuoteHTMLBytes(dst, b []byte) []byte {
	// appendQuote only reads the string, and b does not change meanwhile:
	// viewing it as a string is safe, and saves a copy per frame.
	return appendQuote(dst, unsafe.String(unsafe.SliceData(b), len(b)), &htmlSafe)
}

func appendQuote(dst []byte, s string, safe *[utf8.RuneSelf]bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = appendEscape(dst, rune(b))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, utf8.RuneError)
			i += size
			start = i
			continue
		}
		if !Escapable(r) {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		if r > 0xffff {
			r -= 0x10000
			dst = appendEscape(dst, 0xd800+(r>>10))
			dst = appendEscape(dst, 0xdc00+(r&0x3ff))
		} else {
			dst = appendEscape(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u',
		hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
