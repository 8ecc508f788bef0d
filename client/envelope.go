package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// errFrameTooLarge means the server sent a frame past Options.MaxFrameBytes.
var errFrameTooLarge = errors.New("frame larger than MaxFrameBytes")

// lineReader reads "\n"-terminated frames (xhr-streaming, xhr-polling)
// with a bound on a frame's size, so a hostile server cannot make the
// client buffer without end.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// next returns the next non-empty line without its "\n" (and a "\r"
// before it). The slice is valid until the next call. A last line without
// "\n" is dropped, as sockjs-client drops it, and io.EOF returned.
func (l *lineReader) next() ([]byte, error) {
	for {
		line, err := l.raw()
		if err != nil || len(line) > 0 {
			return line, err
		}
	}
}

// raw returns the next line, empty or not.
func (l *lineReader) raw() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		if len(l.buf)+len(chunk) > l.max+2 {
			return nil, errFrameTooLarge
		}
		l.buf = append(l.buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return nil, err
	}
	return bytes.TrimSuffix(l.buf[:len(l.buf)-1], []byte{'\r'}), nil
}

// eventReader reads an event stream (eventsource) and returns the data of
// each event, decoded with decodeURI as sockjs-client does.
type eventReader struct {
	lines *lineReader
	data  []byte
}

func newEventReader(r io.Reader, max int) *eventReader {
	return &eventReader{lines: newLineReader(r, max)}
}

// next returns the next event's data. Only the "data" field matters to
// SockJS; comments and other fields are skipped. Empty lines end an event,
// so they are read here rather than skipped as lineReader.next does.
func (e *eventReader) next() ([]byte, error) {
	e.data = e.data[:0]
	have := false
	for {
		line, err := e.lines.raw()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if have {
				return decodeURI(e.data)
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte{' '})
		if have {
			e.data = append(e.data, '\n')
		}
		if len(e.data)+len(value) > e.lines.max {
			return nil, errFrameTooLarge
		}
		e.data = append(e.data, value...)
		have = true
	}
}

// uriReserved are the characters JavaScript's decodeURI leaves escaped.
const uriReserved = ";/?:@&=+$,#"

// decodeURI decodes %XX escapes as JavaScript's decodeURI does: escaped
// UTF-8 sequences become their characters, except the reserved ASCII
// characters, which stay escaped; a malformed escape is an error (a
// URIError in the browser). Servers escape '%' (and sockjs-node CR, LF and
// NUL) in eventsource data for this.
func decodeURI(b []byte) ([]byte, error) {
	i := bytes.IndexByte(b, '%')
	if i < 0 {
		return b, nil
	}
	out := make([]byte, 0, len(b))
	for i >= 0 {
		out = append(out, b[:i]...)
		b = b[i:]
		c, ok := unhex2(b)
		if !ok {
			return nil, fmt.Errorf("%w: bad %%-escape in event data", errBadFrame)
		}
		if c < utf8.RuneSelf {
			if bytes.IndexByte([]byte(uriReserved), c) >= 0 {
				out = append(out, b[:3]...)
			} else {
				out = append(out, c)
			}
			b = b[3:]
		} else {
			n := utf8SeqLen(c)
			if n == 0 || len(b) < 3*n {
				return nil, fmt.Errorf("%w: bad %%-escaped UTF-8 in event data", errBadFrame)
			}
			seq := []byte{c}
			for k := 1; k < n; k++ {
				cc, ok := unhex2(b[3*k:])
				if !ok {
					return nil, fmt.Errorf("%w: bad %%-escaped UTF-8 in event data", errBadFrame)
				}
				seq = append(seq, cc)
			}
			if r, size := utf8.DecodeRune(seq); r == utf8.RuneError || size != n {
				return nil, fmt.Errorf("%w: bad %%-escaped UTF-8 in event data", errBadFrame)
			}
			out = append(out, seq...)
			b = b[3*n:]
		}
		i = bytes.IndexByte(b, '%')
	}
	return append(out, b...), nil
}

// unhex2 decodes "%XX" at the start of b.
func unhex2(b []byte) (byte, bool) {
	if len(b) < 3 || b[0] != '%' {
		return 0, false
	}
	h, ok1 := unhex(b[1])
	l, ok2 := unhex(b[2])
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// utf8SeqLen is the length of the UTF-8 sequence a lead byte starts, or 0.
func utf8SeqLen(c byte) int {
	switch {
	case c&0xe0 == 0xc0:
		return 2
	case c&0xf0 == 0xe0:
		return 3
	case c&0xf8 == 0xf0:
		return 4
	}
	return 0
}
