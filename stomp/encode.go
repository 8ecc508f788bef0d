package stomp

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Append appends the wire form of f to dst and returns the extended slice.
//
// Header entries are written in order; in every frame but CONNECT and
// CONNECTED, backslash, LF, CR and colon are escaped. The first
// content-length entry is rewritten to the body's length, and one is added
// when the body is not empty and there is none, so that a body may hold NUL
// bytes and a receiver need not scan it. A frame that STOMP cannot express
// fails with ErrUnencodable and dst is returned unchanged.
func Append(dst []byte, f *Frame) ([]byte, error) { return AppendVersion(dst, f, "1.2") }

// AppendVersion is Append for a peer that negotiated version: "1.2" (or
// empty) escapes backslash, LF, CR and colon; "1.1" escapes all but CR,
// which 1.1 does not define; "1.0" has no escapes, so header values are
// written as they are, with CR and LF (which 1.0 cannot carry) turned
// into spaces.
func AppendVersion(dst []byte, f *Frame, version string) ([]byte, error) {
	if !commands[f.Command] {
		return dst, fmt.Errorf("%w: unknown command %q", ErrUnencodable, f.Command)
	}
	esc := escapes(f.Command)
	if !esc {
		for _, h := range f.Header {
			if h.Key == "" || strings.ContainsAny(h.Key, ":\r\n") || strings.ContainsAny(h.Value, "\r\n") {
				return dst, fmt.Errorf("%w: %s header %q needs escaping, which %s frames do not have", ErrUnencodable, f.Command, h.Key, f.Command)
			}
		}
	} else {
		for _, h := range f.Header {
			if h.Key == "" {
				return dst, fmt.Errorf("%w: empty header name", ErrUnencodable)
			}
		}
	}
	dst = append(dst, f.Command...)
	dst = append(dst, '\n')
	wroteLength := false
	for _, h := range f.Header {
		if h.Key == HdrContentLength && !wroteLength {
			wroteLength = true
			dst = append(dst, HdrContentLength+":"...)
			dst = strconv.AppendInt(dst, int64(len(f.Body)), 10)
			dst = append(dst, '\n')
			continue
		}
		if esc {
			dst = appendEscapedVersion(dst, h.Key, version)
			dst = append(dst, ':')
			dst = appendEscapedVersion(dst, h.Value, version)
		} else {
			dst = append(dst, h.Key...)
			dst = append(dst, ':')
			dst = append(dst, h.Value...)
		}
		dst = append(dst, '\n')
	}
	if !wroteLength && len(f.Body) > 0 {
		dst = append(dst, HdrContentLength+":"...)
		dst = strconv.AppendInt(dst, int64(len(f.Body)), 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, f.Body...)
	dst = append(dst, 0)
	return dst, nil
}

// Encode returns the wire form of f; see Append.
func Encode(f *Frame) ([]byte, error) { return Append(nil, f) }

// appendEscapedVersion appends s escaped for a peer of version (see
// AppendVersion).
func appendEscapedVersion(dst []byte, s, version string) []byte {
	switch version {
	case "1.0":
		if !strings.ContainsAny(s, "\r\n") {
			return append(dst, s...)
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '\r' || c == '\n' {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, c)
			}
		}
		return dst
	case "1.1":
		if !strings.ContainsAny(s, "\\\n:") {
			return append(dst, s...)
		}
		for i := 0; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case ':':
				dst = append(dst, '\\', 'c')
			default:
				dst = append(dst, c)
			}
		}
		return dst
	}
	return appendEscaped(dst, s)
}

// appendEscaped appends s with STOMP 1.2's header escapes.
func appendEscaped(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\r\n:") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case ':':
			dst = append(dst, '\\', 'c')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// unescape undoes appendEscaped; an undefined escape (a backslash followed
// by anything but \ n r c, or at the end) is an error, as STOMP 1.2
// requires.
func unescape(b []byte) (string, error) {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:i]...)
	for ; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 == len(b) {
			return "", fmt.Errorf("%w: header ends in a lone backslash", ErrMalformed)
		}
		i++
		switch b[i] {
		case '\\':
			out = append(out, '\\')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'c':
			out = append(out, ':')
		default:
			return "", fmt.Errorf("%w: undefined escape \\%c in a header", ErrMalformed, b[i])
		}
	}
	return string(out), nil
}
