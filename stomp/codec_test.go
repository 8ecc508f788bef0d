package stomp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// decodeAll feeds each piece and collects every frame.
func decodeAll(d *Decoder, pieces ...string) ([]*Frame, error) {
	var out []*Frame
	for _, p := range pieces {
		d.Feed([]byte(p))
		for {
			f, err := d.Next()
			if err != nil {
				return out, err
			}
			if f == nil {
				break
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []*Frame
	}{
		{"connect", []string{"CONNECT\naccept-version:1.2\nhost:example.com\n\n\x00"},
			[]*Frame{{Command: "CONNECT", Header: Header{{"accept-version", "1.2"}, {"host", "example.com"}}}}},
		{"crlf lines", []string{"SEND\r\ndestination:/queue/a\r\n\r\nhi\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"destination", "/queue/a"}}, Body: []byte("hi")}}},
		{"no headers", []string{"DISCONNECT\n\n\x00"}, []*Frame{{Command: "DISCONNECT"}}},
		{"escapes", []string{"SEND\na\\cb:x\\\\y\\nz\\r\\c\n\n\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"a:b", "x\\y\nz\r:"}}}}},
		{"connect is not unescaped", []string{"CONNECT\nlogin:a\\nb:c\n\n\x00"},
			[]*Frame{{Command: "CONNECT", Header: Header{{"login", "a\\nb:c"}}}}},
		{"colon in value kept", []string{"SEND\ndestination:/queue/a:b\n\n\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"destination", "/queue/a:b"}}}}},
		{"repeated header kept, first wins", []string{"MESSAGE\nfoo:1\nfoo:2\n\n\x00"},
			[]*Frame{{Command: "MESSAGE", Header: Header{{"foo", "1"}, {"foo", "2"}}}}},
		{"content-length with NUL inside", []string{"SEND\ncontent-length:5\n\na\x00b\x00c\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"content-length", "5"}}, Body: []byte("a\x00b\x00c")}}},
		{"heart-beats around frames", []string{"\n\r\n\nSEND\n\n\x00\n\n\r\nACK\nid:1\n\n\x00\n"},
			[]*Frame{{Command: "SEND"}, {Command: "ACK", Header: Header{{"id", "1"}}}}},
		{"several frames in one message", []string{"SEND\n\na\x00SEND\n\nb\x00SEND\n\nc\x00"},
			[]*Frame{{Command: "SEND", Body: []byte("a")}, {Command: "SEND", Body: []byte("b")}, {Command: "SEND", Body: []byte("c")}}},
		{"one frame split across messages", []string{"SE", "ND\ndesti", "nation:/t\n", "\n", "bo", "dy", "\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"destination", "/t"}}, Body: []byte("body")}}},
		{"split inside content-length body", []string{"SEND\ncontent-length:3\n\n\x00", "\x00", "\x00\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"content-length", "3"}}, Body: []byte("\x00\x00\x00")}}},
		{"CR of a heart-beat split from its LF", []string{"\r", "\nSEND\n\n\x00"}, []*Frame{{Command: "SEND"}}},
		{"every command", []string{"STOMP\n\n\x00SUBSCRIBE\n\n\x00UNSUBSCRIBE\n\n\x00NACK\n\n\x00BEGIN\n\n\x00COMMIT\n\n\x00ABORT\n\n\x00CONNECTED\n\n\x00RECEIPT\n\n\x00ERROR\n\n\x00"},
			[]*Frame{{Command: "STOMP"}, {Command: "SUBSCRIBE"}, {Command: "UNSUBSCRIBE"}, {Command: "NACK"}, {Command: "BEGIN"}, {Command: "COMMIT"}, {Command: "ABORT"}, {Command: "CONNECTED"}, {Command: "RECEIPT"}, {Command: "ERROR"}}},
		{"empty value", []string{"SEND\nx:\n\n\x00"}, []*Frame{{Command: "SEND", Header: Header{{"x", ""}}}}},
		{"unicode", []string{"SEND\ndestination:/topic/é\n\nnaïve ✓\x00"},
			[]*Frame{{Command: "SEND", Header: Header{{"destination", "/topic/é"}}, Body: []byte("naïve ✓")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			got, err := decodeAll(&d, tt.in...)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if d.Buffered() != 0 {
				t.Fatalf("%d bytes left buffered", d.Buffered())
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    Decoder
		in   []string
		want error
	}{
		{"unknown command", Decoder{}, []string{"HELLO\n\n\x00"}, ErrMalformed},
		{"lowercase command", Decoder{}, []string{"send\n\n\x00"}, ErrMalformed},
		{"header without colon", Decoder{}, []string{"SEND\nfoo\n\n\x00"}, ErrMalformed},
		{"header without name", Decoder{}, []string{"SEND\n:foo\n\n\x00"}, ErrMalformed},
		{"undefined escape", Decoder{}, []string{"SEND\nfoo:a\\tb\n\n\x00"}, ErrMalformed},
		{"lone backslash", Decoder{}, []string{"SEND\nfoo:a\\\n\n\x00"}, ErrMalformed},
		{"CR inside a CONNECT header", Decoder{}, []string{"CONNECT\nfoo:a\rb\n\n\x00"}, ErrMalformed},
		{"bad content-length", Decoder{}, []string{"SEND\ncontent-length:-1\n\n\x00"}, ErrMalformed},
		{"content-length not followed by NUL", Decoder{}, []string{"SEND\ncontent-length:1\n\nab\x00"}, ErrMalformed},
		{"NUL inside without content-length ends the frame early", Decoder{}, []string{"SEND\n\na\x00b\n\n\x00"}, ErrMalformed},
		{"frame without NUL past the limit", Decoder{MaxFrameBytes: 100}, []string{"SEND\n\n", strings.Repeat("x", 50), strings.Repeat("x", 60)}, ErrTooLarge},
		{"header line past the limit", Decoder{MaxFrameBytes: 100}, []string{"SEND\nx:" + strings.Repeat("x", 120)}, ErrTooLarge},
		{"endless header lines", Decoder{MaxFrameBytes: 100, MaxHeaders: 1000}, []string{strings.Repeat("SEND\n", 1) + strings.Repeat("a:b\n", 30)}, ErrTooLarge},
		{"too many headers", Decoder{MaxHeaders: 3}, []string{"SEND\na:1\nb:2\nc:3\nd:4\n"}, ErrTooLarge},
		{"content-length past the limit, before the body arrives", Decoder{MaxFrameBytes: 100}, []string{"SEND\ncontent-length:1000\n\n"}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			_, err := decodeAll(&d, tt.in...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			// sticky
			d.Feed([]byte("SEND\n\n\x00"))
			if _, err2 := d.Next(); !errors.Is(err2, tt.want) {
				t.Fatalf("second Next: %v", err2)
			}
		})
	}
}

// A hostile client that never ends a frame cannot make the decoder hold
// more than the limit plus one piece.
func TestDecoderBounded(t *testing.T) {
	t.Parallel()
	d := Decoder{MaxFrameBytes: 4096}
	d.Feed([]byte("SEND\n\n"))
	piece := []byte(strings.Repeat("x", 100))
	for i := 0; i < 1000; i++ {
		d.Feed(piece)
		if _, err := d.Next(); err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v", err)
			}
			if i*100 > 4096+100 {
				t.Fatalf("limit noticed only after %d bytes", i*100)
			}
			return
		}
		if d.Buffered() > 4096+100 {
			t.Fatalf("buffered %d bytes", d.Buffered())
		}
	}
	t.Fatal("no error")
}

// Heart-beats alone never accumulate.
func TestDecoderHeartbeats(t *testing.T) {
	t.Parallel()
	var d Decoder
	for i := 0; i < 10000; i++ {
		d.Feed([]byte("\n"))
		if f, err := d.Next(); f != nil || err != nil {
			t.Fatalf("frame %v, error %v", f, err)
		}
	}
	if d.Heartbeats() != 10000 || d.Buffered() != 0 {
		t.Fatalf("heartbeats %d, buffered %d", d.Heartbeats(), d.Buffered())
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"escaped", Frame{Command: "MESSAGE", Header: Header{{"a:b", "x\\y\nz\r"}}}, "MESSAGE\na\\cb:x\\\\y\\nz\\r\n\n\x00"},
		{"connected not escaped", Frame{Command: "CONNECTED", Header: Header{{"version", "1.2"}, {"server", "a:b\\"}}}, "CONNECTED\nversion:1.2\nserver:a:b\\\n\n\x00"},
		{"content-length added", Frame{Command: "MESSAGE", Body: []byte("a\x00b")}, "MESSAGE\ncontent-length:3\n\na\x00b\x00"},
		{"content-length corrected in place", Frame{Command: "SEND", Header: Header{{"content-length", "99"}, {"x", "1"}}, Body: []byte("ab")}, "SEND\ncontent-length:2\nx:1\n\nab\x00"},
		{"empty body has none", Frame{Command: "RECEIPT", Header: Header{{"receipt-id", "7"}}}, "RECEIPT\nreceipt-id:7\n\n\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(&tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			var d Decoder
			d.Feed(got)
			back, err := d.Next()
			if err != nil || back == nil {
				t.Fatalf("decode: %v %v", back, err)
			}
			if back.Command != tt.f.Command || !bytes.Equal(back.Body, tt.f.Body) || back.Header.Get("x") != tt.f.Header.Get("x") {
				t.Fatalf("round trip %+v", back)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	for _, f := range []Frame{
		{Command: "HELLO"},
		{Command: "CONNECT", Header: Header{{"login", "a\nb"}}},
		{Command: "CONNECTED", Header: Header{{"a:b", "c"}}},
		{Command: "SEND", Header: Header{{"", "c"}}},
	} {
		if b, err := Encode(&f); !errors.Is(err, ErrUnencodable) {
			t.Errorf("%+v: %q, %v", f, b, err)
		}
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	h := Header{{"a", "1"}, {"b", "2"}, {"a", "3"}}
	if h.Get("a") != "1" || h.Get("c") != "" {
		t.Fatal(h)
	}
	h.Set("a", "9")
	if !reflect.DeepEqual(h, Header{{"a", "9"}, {"b", "2"}}) {
		t.Fatal(h)
	}
	h.Add("c", "3")
	h.Del("b")
	if !reflect.DeepEqual(h, Header{{"a", "9"}, {"c", "3"}}) {
		t.Fatal(h)
	}
	c := h.Clone()
	c.Set("a", "0")
	if h.Get("a") != "9" {
		t.Fatal("Clone shares")
	}
}
