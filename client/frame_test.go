package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in      string
		want    parsedFrame
		wantErr bool
	}{
		{in: "o", want: parsedFrame{kind: frameOpen}},
		{in: "h", want: parsedFrame{kind: frameHeartbeat}},
		{in: strings.Repeat("h", 2048), want: parsedFrame{kind: frameHeartbeat}},
		{in: `a["x","y\u00e9"]`, want: parsedFrame{kind: frameMessages, msgs: []string{"x", "yé"}}},
		{in: `a[]`, want: parsedFrame{kind: frameMessages, msgs: []string{}}},
		{in: `a["\ud83d\ude00"]`, want: parsedFrame{kind: frameMessages, msgs: []string{"😀"}}},
		{in: `c[3000,"Go away!"]`, want: parsedFrame{kind: frameClose, code: 3000, reason: "Go away!"}},
		{in: `c[2010, "Another connection still open"]`, want: parsedFrame{kind: frameClose, code: 2010, reason: "Another connection still open"}},
		{in: ``, wantErr: true},
		{in: `a`, wantErr: true},
		{in: `a"x"`, wantErr: true},
		{in: `a["x"`, wantErr: true},
		{in: `a[1]`, wantErr: true},
		{in: `c[3000]`, wantErr: true},
		{in: `c["3000","x"]`, wantErr: true},
		{in: `c[3000.5,"x"]`, wantErr: true},
		{in: `c[-1,"x"]`, wantErr: true},
		{in: `m"x"`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseFrame([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFrame(%.30q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, errBadFrame) {
				t.Errorf("parseFrame(%.30q) error %v does not wrap errBadFrame", tt.in, err)
			}
			continue
		}
		if got.kind != tt.want.kind || got.code != tt.want.code || got.reason != tt.want.reason ||
			strings.Join(got.msgs, "|") != strings.Join(tt.want.msgs, "|") || len(got.msgs) != len(tt.want.msgs) {
			t.Errorf("parseFrame(%.30q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseFrame checks that parseFrame never panics, that a messages
// frame it accepts agrees with encoding/json where the input is valid
// UTF-8, and that re-encoding the messages parses back to them.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{"o", "h", `a["a","b"]`, `a["\u2028\ud800"]`, `c[3000,"Go away!"]`, `c[1e3,""]`, `a[ "x" , "y" ]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			return
		}
		if fr.kind != frameMessages {
			return
		}
		if utf8.Valid(b) {
			var ref []string
			if json.Unmarshal(b[1:], &ref) == nil && !strings.Contains(string(b), `\u`) {
				if strings.Join(ref, "\x00") != strings.Join(fr.msgs, "\x00") {
					t.Fatalf("parseFrame(%q) = %q, encoding/json says %q", b, fr.msgs, ref)
				}
			}
		}
		var quoted [][]byte
		for _, m := range fr.msgs {
			quoted = append(quoted, quote(m))
		}
		again, err := parseFrame(append([]byte{'a'}, appendBatch(nil, quoted)...))
		if err != nil {
			t.Fatalf("re-encoded frame of %q does not parse: %v", b, err)
		}
		for i := range fr.msgs {
			if utf8.ValidString(fr.msgs[i]) && again.msgs[i] != fr.msgs[i] {
				t.Fatalf("message %d of %q: %q after re-encoding, was %q", i, b, again.msgs[i], fr.msgs[i])
			}
		}
	})
}

func TestDecodeURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"%25", "%"},
		{"100%25 sure", "100% sure"},
		{"%41%c3%a9", "Aé"},
		{"%23%2F%3f", "%23%2F%3f"}, // reserved: left escaped, as decodeURI does
		{"%0D%0A%00", "\r\n\x00"},  // what sockjs-node escapes
		{"%F0%9F%98%80", "😀"},
	}
	for _, tt := range tests {
		got, err := decodeURI([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("decodeURI(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz", "%c3", "%c3%28", "%ff", "%ed%a0%80"} {
		if _, err := decodeURI([]byte(bad)); err == nil {
			t.Errorf("decodeURI(%q) accepted", bad)
		}
	}
}

// FuzzDecodeURI checks that decodeURI inverts the servers' escaping of
// '%' and agrees with url.PathUnescape where no reserved character is
// involved.
func FuzzDecodeURI(f *testing.F) {
	for _, s := range []string{"a%25b", "%41", "%e2%82%ac", "%", "%%", "%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeURI([]byte(strings.ReplaceAll(s, "%", "%25")))
		if err != nil || string(got) != s {
			t.Fatalf("decodeURI of escaped %q = %q, %v", s, got, err)
		}
		// Escapes of reserved characters (%23, %2F, %3A, %40, ...) stay
		// escaped in decodeURI but not in PathUnescape: compare the rest.
		low := strings.ToLower(s)
		if strings.Contains(low, "%2") || strings.Contains(low, "%3") || strings.Contains(low, "%40") {
			return
		}
		out, err := decodeURI([]byte(s))
		want, uerr := url.PathUnescape(s)
		if err == nil && uerr == nil && string(out) != want {
			t.Fatalf("decodeURI(%q) = %q, url.PathUnescape says %q", s, out, want)
		}
	})
}

// FuzzEnvelopes checks that the line and event readers never panic and
// never return a frame past the size bound.
func FuzzEnvelopes(f *testing.F) {
	for _, s := range []string{"hhh\no\na[\"x\"]\n", "\r\ndata: o\r\n\r\ndata: a[\"%25\"]\r\n\r\n", "data:x\n:comment\n\n", "no newline"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 64
		l := newLineReader(bytes.NewReader(b), max)
		for {
			line, err := l.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errFrameTooLarge) {
					t.Fatalf("line reader: %v", err)
				}
				break
			}
			if len(line) == 0 || len(line) > max+1 || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line reader returned %q", line)
			}
		}
		e := newEventReader(bytes.NewReader(b), max)
		for {
			data, err := e.next()
			if err != nil {
				break
			}
			if len(data) > max {
				t.Fatalf("event of %d bytes past the bound %d", len(data), max)
			}
		}
	})
}

func BenchmarkParseFrame(b *testing.B) {
	f := []byte(`a["` + strings.Repeat("x", 100) + `","` + strings.Repeat("y", 100) + `"]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := parseFrame(f); err != nil {
			b.Fatal(err)
		}
	}
}
