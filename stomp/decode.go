package stomp

import (
	"bytes"
	"fmt"
)

// Default limits of a zero Decoder.
const (
	DefaultMaxFrameBytes = 1 << 20
	DefaultMaxHeaders    = 64
)

// Decoder reads STOMP frames from a stream that arrives in pieces: over
// SockJS one message may carry several frames, or part of one, and the
// pieces need not break at frame boundaries. Feed it each piece and call
// Next until it returns no frame.
//
// It buffers at most one incomplete frame, so memory is bounded by
// MaxFrameBytes plus the piece being fed: a frame (command, header and body)
// past MaxFrameBytes, a header section with more than MaxHeaders entries, or
// a content-length past the limit fails with ErrTooLarge as soon as it is
// seen, not when the frame ends. Heart-beats (EOLs between frames) are
// skipped and counted. After an error the Decoder is unusable: STOMP cannot
// resynchronise, so the connection must end.
//
// The zero Decoder is ready to use with the default limits. A Decoder is
// not safe for concurrent use.
type Decoder struct {
	// MaxFrameBytes bounds one frame, from its command to its NUL. Zero
	// means DefaultMaxFrameBytes (1 MiB).
	MaxFrameBytes int
	// MaxHeaders bounds the header entries of one frame. Zero means
	// DefaultMaxHeaders (64).
	MaxHeaders int
	// Version is the STOMP version negotiated with the peer: "1.0" reads
	// header entries as they are (1.0 has no escapes, so C:\temp is a
	// plain value); "1.1", "1.2" or empty unescape them. Set it once
	// CONNECT is done; frames not returned by Next yet follow it.
	Version string

	buf        []byte
	off        int    // first unconsumed byte
	err        error  // sticky
	heartbeats uint64 // EOLs seen between frames

	// the frame being read, once its header section is complete
	frame   *Frame
	bodyAt  int // index of its body in buf
	bodyLen int // from content-length, or -1: up to the first NUL
	// scanning state, so that pieces are not rescanned
	started bool // a frame's command has begun (heart-beats skipped)
	scan    int  // next byte to look at
	lines   int  // header lines seen so far (the command line included)
}

func (d *Decoder) maxFrame() int {
	if d.MaxFrameBytes > 0 {
		return d.MaxFrameBytes
	}
	return DefaultMaxFrameBytes
}

func (d *Decoder) maxHeaders() int {
	if d.MaxHeaders > 0 {
		return d.MaxHeaders
	}
	return DefaultMaxHeaders
}

// Heartbeats returns how many heart-beat EOLs arrived between frames.
func (d *Decoder) Heartbeats() uint64 { return d.heartbeats }

// Buffered returns how many bytes are held for a frame not complete yet.
func (d *Decoder) Buffered() int { return len(d.buf) - d.off }

// Feed adds the next piece of the stream. The Decoder copies p.
func (d *Decoder) Feed(p []byte) {
	if d.err != nil || len(p) == 0 {
		return
	}
	if d.off > 0 {
		// Drop consumed bytes; indexes of the partial frame move with them.
		n := copy(d.buf, d.buf[d.off:])
		d.buf = d.buf[:n]
		d.scan -= d.off
		d.bodyAt -= d.off
		d.off = 0
		// Do not keep a large buffer around once it is empty.
		if n == 0 && cap(d.buf) > 64<<10 {
			d.buf = nil
		}
	}
	d.buf = append(d.buf, p...)
}

// Next returns the next complete frame, or nil and no error if more input
// is needed. The frame shares nothing with the Decoder.
func (d *Decoder) Next() (*Frame, error) {
	if d.err != nil {
		return nil, d.err
	}
	f, err := d.next()
	if err != nil {
		d.err = err
		d.buf = nil
	}
	return f, err
}

func (d *Decoder) next() (*Frame, error) {
	if d.frame == nil {
		if !d.started {
			d.skipEOLs()
			if d.off == len(d.buf) || d.buf[d.off] == '\r' && d.off+1 == len(d.buf) {
				return nil, nil // nothing, or maybe a heart-beat's CR
			}
			d.started, d.scan, d.lines = true, d.off, 0
		}
		end, ok, err := d.findHeaderEnd()
		if err != nil || !ok {
			return nil, err
		}
		if err := d.parseHeader(end); err != nil {
			return nil, err
		}
	}
	limit := d.maxFrame()
	var end int // index of the NUL
	if d.bodyLen >= 0 {
		end = d.bodyAt + d.bodyLen
		if end >= len(d.buf) {
			return nil, nil
		}
		if d.buf[end] != 0 {
			return nil, fmt.Errorf("%w: %d body bytes (content-length) not followed by NUL", ErrMalformed, d.bodyLen)
		}
	} else {
		from := d.scan
		i := bytes.IndexByte(d.buf[from:], 0)
		if i < 0 {
			d.scan = len(d.buf)
			if len(d.buf)-d.off > limit {
				return nil, fmt.Errorf("%w: no NUL within %d bytes", ErrTooLarge, limit)
			}
			return nil, nil
		}
		end = from + i
		if end+1-d.off > limit {
			return nil, fmt.Errorf("%w: frame longer than %d bytes", ErrTooLarge, limit)
		}
	}
	f := d.frame
	if end > d.bodyAt {
		f.Body = bytes.Clone(d.buf[d.bodyAt:end])
	}
	d.frame, d.started = nil, false
	d.off = end + 1
	d.scan = d.off
	return f, nil
}

// skipEOLs consumes heart-beats: LF or CR LF before a command. A lone CR
// at the end of the buffer waits for its LF.
func (d *Decoder) skipEOLs() {
	for d.off < len(d.buf) {
		switch {
		case d.buf[d.off] == '\n':
			d.off++
		case d.buf[d.off] == '\r' && d.off+1 < len(d.buf) && d.buf[d.off+1] == '\n':
			d.off += 2
		default:
			return
		}
		d.heartbeats++
	}
}

// findHeaderEnd looks for the empty line that ends the header section and
// returns the index just past it.
func (d *Decoder) findHeaderEnd() (int, bool, error) {
	limit, maxHeaders := d.maxFrame(), d.maxHeaders()
	for {
		i := bytes.IndexByte(d.buf[d.scan:], '\n')
		if i < 0 {
			if len(d.buf)-d.off > limit {
				return 0, false, fmt.Errorf("%w: header section longer than %d bytes", ErrTooLarge, limit)
			}
			return 0, false, nil
		}
		line := d.buf[d.scan : d.scan+i]
		d.scan += i + 1
		if d.lines > 0 && (len(line) == 0 || len(line) == 1 && line[0] == '\r') {
			return d.scan, true, nil
		}
		d.lines++
		if d.lines-1 > maxHeaders {
			return 0, false, fmt.Errorf("%w: more than %d header entries", ErrTooLarge, maxHeaders)
		}
		if d.scan-d.off > limit {
			return 0, false, fmt.Errorf("%w: header section longer than %d bytes", ErrTooLarge, limit)
		}
	}
}

// parseHeader parses the command and header lines in buf[off:end].
func (d *Decoder) parseHeader(end int) error {
	block := d.buf[d.off:end]
	nl := bytes.IndexByte(block, '\n')
	cmd := trimCR(block[:nl])
	f := &Frame{Command: string(cmd)}
	if !commands[f.Command] {
		return fmt.Errorf("%w: unknown command %q", ErrMalformed, truncate(cmd))
	}
	esc := escapes(f.Command) && d.Version != "1.0"
	rest := block[nl+1:]
	for {
		nl := bytes.IndexByte(rest, '\n')
		line := trimCR(rest[:nl])
		rest = rest[nl+1:]
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: header line %q without a name and colon", ErrMalformed, truncate(line))
		}
		var fld Field
		if esc {
			var err error
			if fld.Key, err = unescape(line[:colon]); err != nil {
				return err
			}
			if fld.Value, err = unescape(line[colon+1:]); err != nil {
				return err
			}
		} else {
			if bytes.IndexByte(line, '\r') >= 0 {
				return fmt.Errorf("%w: CR inside a %s header", ErrMalformed, f.Command)
			}
			fld.Key, fld.Value = string(line[:colon]), string(line[colon+1:])
		}
		f.Header = append(f.Header, fld)
	}
	d.bodyLen = -1
	if v, ok := f.Header.Lookup(HdrContentLength); ok {
		n, ok := contentLength(v)
		if !ok {
			return fmt.Errorf("%w: content-length %q is not a number", ErrMalformed, truncate([]byte(v)))
		}
		if n+1 > d.maxFrame()-(end-d.off) {
			return fmt.Errorf("%w: content-length %d past the limit of %d bytes per frame", ErrTooLarge, n, d.maxFrame())
		}
		d.bodyLen = n
	}
	d.frame, d.bodyAt = f, end
	d.scan = end
	return nil
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// truncate keeps error messages short when a client sends garbage.
func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
