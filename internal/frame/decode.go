package frame

import (
	"slices"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// DecodeMessages parses what a client sends: a JSON array of strings
// (sockjs-client always sends one) or a single JSON string. Surrounding JSON
// white space is allowed. It returns [ErrEmptyPayload] for empty input and
// [ErrBrokenJSON] for anything else that is not of that form; it never
// returns some messages together with an error, so a broken payload
// delivers nothing.
//
// It allocates the slice once, at its final length, and each message once
// (see [AppendDecodeMessages] to reuse the slice as well).
func DecodeMessages(data []byte) ([]string, error) {
	msgs, err := AppendDecodeMessages(nil, data)
	if err == nil && msgs == nil {
		msgs = []string{} // an empty array: no messages, but no error either
	}
	return msgs, err
}

// AppendDecodeMessages is DecodeMessages appending the messages to dst: a
// reader that hands the messages on (and clears them) before its next
// payload can reuse one slice for all its payloads. On error it returns
// dst unchanged, with nothing appended. When dst lacks room it grows once,
// to fit every string of the payload's array.
func AppendDecodeMessages(dst []string, data []byte) ([]string, error) {
	p := parser{data: data}
	p.skipSpace()
	if p.pos == len(p.data) {
		return dst, ErrEmptyPayload
	}
	base := len(dst)
	msgs := dst
	fail := func() ([]string, error) {
		clear(msgs[base:]) // the slice may be reused: keep no string alive
		return dst, ErrBrokenJSON
	}
	switch p.data[p.pos] {
	case '"':
		s, ok := p.parseString()
		if !ok {
			return dst, ErrBrokenJSON
		}
		msgs = append(msgs, s)
	case '[':
		p.pos++
		p.skipSpace()
		if p.peek() == ']' {
			p.pos++
			break
		}
		msgs = slices.Grow(msgs, countStrings(p.data[p.pos:]))
		for {
			p.skipSpace()
			s, ok := p.parseString()
			if !ok {
				return fail()
			}
			msgs = append(msgs, s)
			p.skipSpace()
			c := p.peek()
			p.pos++
			if c == ']' {
				break
			}
			if c != ',' {
				return fail()
			}
		}
	default:
		return dst, ErrBrokenJSON
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return fail()
	}
	return msgs, nil
}

// countStrings counts the strings at the start of data, the inside of an
// array: "...", "...", ... as far as that structure goes. It checks no
// escape, so it may count strings that parsing then refuses; but never more
// strings than the payload has, so a slice sized by it holds no more than a
// valid payload of the same length would fill.
func countStrings(data []byte) int {
	n, i := 0, 0
	space := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
	}
	for {
		space()
		if i >= len(data) || data[i] != '"' {
			return n
		}
		i = stringEnd(data, i+1)
		if i >= len(data) {
			return n
		}
		n++
		i++
		space()
		if i >= len(data) || data[i] != ',' {
			return n
		}
		i++
	}
}

// stringEnd returns the index of the quote that ends the JSON string whose
// content starts at data[i], skipping escaped characters, or len(data).
func stringEnd(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case '"':
			return i
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return len(data)
}

// Unquote decodes one JSON string such as [AppendQuote] writes, with no
// surrounding white space. For valid UTF-8 it inverts AppendQuote exactly.
// It returns [ErrBrokenJSON] for anything else.
func Unquote(q []byte) (string, error) {
	p := parser{data: q}
	s, ok := p.parseString()
	if !ok || p.pos != len(q) {
		return "", ErrBrokenJSON
	}
	return s, nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// parseString parses a JSON string at p.pos. Like encoding/json it turns
// invalid UTF-8 and lone surrogate escapes into U+FFFD.
func (p *parser) parseString() (string, bool) {
	if p.peek() != '"' {
		return "", false
	}
	p.pos++
	start := p.pos
	// Fast path: no escapes and valid UTF-8 means the bytes are the string.
	for i := start; i < len(p.data); i++ {
		c := p.data[i]
		if c == '"' {
			raw := p.data[start:i]
			if utf8.Valid(raw) {
				p.pos = i + 1
				return string(raw), true
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	// The decoded string is no longer than its encoding (escapes only
	// shrink), but for invalid UTF-8, each byte of which becomes a 3-byte
	// U+FFFD: one allocation in all but that case.
	b, ok := p.appendBody(make([]byte, 0, stringEnd(p.data, p.pos)-p.pos))
	if !ok {
		return "", false
	}
	// b is never written again: the string may share it, as
	// strings.Builder's String does.
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// AppendUnquote is Unquote appending the decoded text to dst: a writer
// that needs the text as bytes (the raw websocket) can reuse one buffer.
// On error it returns dst, with its length unchanged.
func AppendUnquote(dst, q []byte) ([]byte, error) {
	p := parser{data: q}
	if p.peek() != '"' {
		return dst, ErrBrokenJSON
	}
	p.pos++
	out, ok := p.appendBody(dst)
	if !ok || p.pos != len(q) {
		return dst, ErrBrokenJSON
	}
	return out, nil
}

// appendBody appends the decoded content of the JSON string whose opening
// quote is just before p.pos, and moves past its closing quote.
func (p *parser) appendBody(b []byte) ([]byte, bool) {
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b, true
		case c < 0x20:
			return b, false
		case c == '\\':
			var ok bool
			if b, ok = p.appendEscape(b); !ok {
				return b, false
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			b = utf8.AppendRune(b, r) // RuneError for invalid bytes, as encoding/json
			p.pos += size
		}
	}
	return b, false
}

func (p *parser) appendEscape(b []byte) ([]byte, bool) {
	if p.pos+1 >= len(p.data) {
		return b, false
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		b = append(b, c)
	case 'b':
		b = append(b, '\b')
	case 'f':
		b = append(b, '\f')
	case 'n':
		b = append(b, '\n')
	case 'r':
		b = append(b, '\r')
	case 't':
		b = append(b, '\t')
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return b, false
		}
		if utf16.IsSurrogate(r) {
			if r < 0xdc00 && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				r2, ok := p.hex4()
				if !ok {
					return b, false
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					return utf8.AppendRune(b, dec), true
				}
				p.pos = save
			}
			r = utf8.RuneError
		}
		b = utf8.AppendRune(b, r)
	default:
		return b, false
	}
	return b, true
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}
