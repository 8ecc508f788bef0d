package sockjs_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// unicodeBlock is the number of code points per message.
const unicodeBlock = 4096

// unicodeCodePoints returns, in order, every Unicode scalar value of the
// Basic Multilingual Plane (U+0000 to U+FFFF without the surrogates, which
// are not characters and cannot be sent as UTF-8: all of SockJS's escaping
// rules are about this plane) and, of each of the 16 planes above it, the
// first and last 256 code points (U+nFFFE and U+nFFFF included) and every
// 61st in between, so that every 4096-code-point block is touched. All
// 1.1 million code points would take the race detector half a minute
// (each astral one comes back as a 12-byte surrogate-pair escape).
func unicodeCodePoints() []rune {
	var rs []rune
	for r := rune(0); r <= 0xffff; r++ {
		if r < 0xd800 || r > 0xdfff {
			rs = append(rs, r)
		}
	}
	for plane := rune(1); plane <= 16; plane++ {
		lo, hi := plane<<16, plane<<16|0xffff
		for r := lo; r <= hi; r++ {
			if r-lo < 256 || hi-r < 256 || (r-lo)%61 == 0 {
				rs = append(rs, r)
			}
		}
	}
	return rs
}

// unicodeMessages splits unicodeCodePoints into messages of unicodeBlock
// code points.
func unicodeMessages() []string {
	rs := unicodeCodePoints()
	var msgs []string
	for i := 0; i < len(rs); i += unicodeBlock {
		msgs = append(msgs, string(rs[i:min(i+unicodeBlock, len(rs))]))
	}
	return msgs
}

// asciiJSON encodes msgs as a JSON array using only ASCII: every other code
// point as a \u escape (a surrogate pair above U+FFFF), as a client that
// escapes everything would send it.
func asciiJSON(msgs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range m {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r >= 0x20 && r < 0x7f:
				b.WriteRune(r)
			case r > 0xffff:
				r -= 0x10000
				lowerEscape(&b, 0xd800+(r>>10))
				lowerEscape(&b, 0xdc00+(r&0x3ff))
			default:
				lowerEscape(&b, r)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// utf8JSON encodes msgs as JSON with raw UTF-8 (only what JSON requires
// escaped), as JSON.stringify in a browser sends them.
func utf8JSON(t *testing.T, msgs []string) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msgs); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// expectNoRawEscapable checks that a frame from the server carries none of
// the code points the protocol wants escaped (escapable_by_server) raw.
func expectNoRawEscapable(t *testing.T, frame string) {
	t.Helper()
	for i, r := range frame {
		if r < 0x20 || r >= 0x200c && r <= 0x200f || r >= 0x2028 && r <= 0x202f ||
			r >= 0x2060 && r <= 0x206f || r >= 0xfff0 && r <= 0xffff {
			t.Fatalf("frame carries U+%04X raw at byte %d; want it escaped", r, i)
		}
	}
}

// Every code point range (see unicodeCodePoints), in messages of 4096 code
// points, goes to the echo service and back
// unchanged: over xhr (sent as raw UTF-8, then as ASCII-only escapes) and
// over websocket (both encodings, alternately). What comes back is valid
// UTF-8 and JSON, and never carries an escapable code point raw.
func TestProtocolUnicodeRoundTrip(t *testing.T) {
	t.Parallel()
	all := unicodeMessages()
	const batch = 16 // messages per xhr_send or websocket message

	for _, enc := range []string{"utf8", "ascii"} {
		t.Run("xhr "+enc, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			base := sessionBase("/echo")
			expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
			for i := 0; i < len(all); i += batch {
				part := all[i:min(i+batch, len(all))]
				var body string
				if enc == "utf8" {
					body = utf8JSON(t, part)
				} else {
					body = asciiJSON(part)
				}
				expectBody(t, f.post(t, base+"/xhr_send", body), http.StatusNoContent, "")
				var got []string
				for len(got) < len(part) {
					r := f.post(t, base+"/xhr", "")
					expectStatus(t, r, http.StatusOK)
					frame := strings.TrimSuffix(r.Body(), "\n")
					expectNoRawEscapable(t, frame)
					got = append(got, decodeMessages(t, frame)...)
				}
				compareUnicode(t, i, part, got)
			}
		})
	}
	t.Run("websocket", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		ws := dialWS(t, f.addr, sessionBase("/echo")+"/websocket")
		wsExpect(t, ws, frameOpen)
		for i := 0; i < len(all); i += batch {
			part := all[i:min(i+batch, len(all))]
			if (i/batch)%2 == 0 {
				wsSend(t, ws, utf8JSON(t, part))
			} else {
				wsSend(t, ws, asciiJSON(part))
			}
			var got []string
			for len(got) < len(part) {
				frame := wsRead(t, ws, ioTimeout)
				expectNoRawEscapable(t, frame)
				got = append(got, decodeMessages(t, frame)...)
			}
			compareUnicode(t, i, part, got)
		}
	})
}

func compareUnicode(t *testing.T, first int, want, got []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("messages %d..: got %d back; want %d", first, len(got), len(want))
	}
	for k := range want {
		if got[k] == want[k] {
			continue
		}
		g, w := []rune(got[k]), []rune(want[k])
		for j := range min(len(g), len(w)) {
			if g[j] != w[j] {
				t.Fatalf("message %d: code point %d is U+%04X; want U+%04X", first+k, j, g[j], w[j])
			}
		}
		t.Fatalf("message %d: %d code points back; want %d", first+k, len(g), len(w))
	}
}
