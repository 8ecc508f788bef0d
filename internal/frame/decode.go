package frame

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeMessages parses what a client sends: a JSON array of strings
// (sockjs-client always sends one) or a single JSON string. Surrounding JSON
// white space is allowed. It returns [ErrEmptyPayload] for empty input and
// [ErrBrokenJSON] for anything else that is not of that form; it never
// returns some messages together with an error, so a broken payload
// delivers nothing.
func DecodeMessages(data []byte) ([]string, error) {
	p := parser{data: data}
	p.skipSpace()
	if p.pos == len(p.data) {
		return nil, ErrEmptyPayload
	}
	var msgs []string
	switch p.data[p.pos] {
	case '"':
		s, ok := p.parseString()
		if !ok {
			return nil, ErrBrokenJSON
		}
		msgs = []string{s}
	case '[':
		p.pos++
		p.skipSpace()
		if p.peek() == ']' {
			p.pos++
			msgs = []string{}
			break
		}
		for {
			p.skipSpace()
			s, ok := p.parseString()
			if !ok {
				return nil, ErrBrokenJSON
			}
			msgs = append(msgs, s)
			p.skipSpace()
			c := p.peek()
			p.pos++
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, ErrBrokenJSON
			}
		}
	default:
		return nil, ErrBrokenJSON
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, ErrBrokenJSON
	}
	return msgs, nil
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
	var b strings.Builder
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if !p.parseEscape(&b) {
				return "", false
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			b.WriteRune(r) // RuneError for invalid bytes, as encoding/json
			p.pos += size
		}
	}
	return "", false
}

func (p *parser) parseEscape(b *strings.Builder) bool {
	if p.pos+1 >= len(p.data) {
		return false
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return false
		}
		if utf16.IsSurrogate(r) {
			if r < 0xdc00 && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				r2, ok := p.hex4()
				if !ok {
					return false
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					b.WriteRune(dec)
					return true
				}
				p.pos = save
			}
			r = utf8.RuneError
		}
		b.WriteRune(r)
	default:
		return false
	}
	return true
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
