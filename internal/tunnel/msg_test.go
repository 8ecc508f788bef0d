package tunnel

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

var testSecret = []byte("0123456789abcdef-test-secret")

func testCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	c := testCodec(t)
	for _, m := range []*Msg{
		{Kind: KindOpen, ID: "n1#ab/1", From: "n1#ab", Session: "abc", Transport: "xhr_send", Method: "POST",
			Path: "/000/abc/xhr_send", RawQuery: "t=1", ContentType: "text/plain", Body: []byte("[\"x\\u0000\"]")},
		{Kind: KindChunk, ID: "n1#ab/1", From: "n2#cd", Seq: 1, Status: 200, Header: http.Header{"Content-Type": {"text/plain"}, "X-A": {"1", "2"}}, Body: []byte{0, 1, 0xff}},
		{Kind: KindChunk, ID: "n1#ab/1", From: "n2#cd", Seq: 2, Body: []byte("h\n"), Final: true},
		{Kind: KindAck, ID: "n1#ab/1", From: "n1#ab", Seq: 2},
		{Kind: KindAck, ID: "n1#ab/1", From: "n1#ab", Seq: 3, Err: "write: broken pipe"},
		{Kind: KindEnd, ID: "n1#ab/1", From: "n2#cd", Seq: 3},
		{Kind: KindEnd, ID: "n1#ab/1", From: "n2#cd", Seq: 3, Err: "no acknowledgement"},
		{Kind: KindCancel, ID: "n1#ab/1", From: "n1#ab"},
		{Kind: KindWait, ID: "n1#ab/1", From: "n2#cd"},
		{Kind: KindDrain, ID: "n1#ab/1", From: "n1#ab"},
		{Kind: KindWait, ID: "n1#ab/1", From: "n2#cd", Addr: "10.0.0.2:7946"},
		{Kind: KindHello, ID: HelloID, From: "n1#ab", Body: []byte("n2#cd"), Addr: "10.0.0.1:7946"},
	} {
		got, err := c.Decode(c.Encode(m))
		if err != nil {
			t.Fatalf("%s: %v", m.Kind, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", m.Kind, got, m)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	c := testCodec(t)
	for name, m := range map[string]*Msg{
		"no id":                {Kind: KindEnd, From: "n"},
		"no from":              {Kind: KindEnd, ID: "a"},
		"unknown kind":         {Kind: 99, ID: "a", From: "n"},
		"open no session":      {Kind: KindOpen, ID: "a", From: "n", Transport: "xhr", Method: "POST", Path: "/"},
		"open no path":         {Kind: KindOpen, ID: "a", From: "n", Session: "s", Transport: "xhr", Method: "POST"},
		"chunk no seq":         {Kind: KindChunk, ID: "a", From: "n", Status: 200},
		"first no status":      {Kind: KindChunk, ID: "a", From: "n", Seq: 1},
		"ack no seq":           {Kind: KindAck, ID: "a", From: "n"},
		"final on an end":      {Kind: KindEnd, ID: "a", From: "n", Final: true},
		"long id":              {Kind: KindEnd, ID: string(make([]byte, MaxIDBytes+1)), From: "n"},
		"hello of an exchange": {Kind: KindHello, ID: "a", From: "n"},
		"long address":         {Kind: KindWait, ID: "a", From: "n", Addr: string(make([]byte, MaxIDBytes+1))},
	} {
		if _, err := c.Decode(c.Encode(m)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
	for name, p := range map[string][]byte{
		"empty":     nil,
		"too short": []byte("abc"),
	} {
		if _, err := c.Decode(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
}

// A message made without the secret, or altered on the way, is refused as
// forged, whatever it says: the bus is shared with whoever can reach Redis.
func TestDecodeRefusesForgedMessages(t *testing.T) {
	c := testCodec(t)
	other, err := NewCodec([]byte("another cluster's secret!!"))
	if err != nil {
		t.Fatal(err)
	}
	m := &Msg{Kind: KindChunk, ID: "n1#ab/1", From: "n2#cd", Seq: 1, Status: 200, Body: []byte(`a["secret for X"]`)}
	if _, err := c.Decode(other.Encode(m)); !errors.Is(err, ErrForged) {
		t.Fatalf("message of another secret: %v, want ErrForged", err)
	}
	p := c.Encode(m)
	for i := range p {
		q := bytes.Clone(p)
		q[i] ^= 0x20
		if _, err := c.Decode(q); !errors.Is(err, ErrForged) {
			t.Fatalf("byte %d flipped: %v, want ErrForged", i, err)
		}
	}
	if _, err := c.Decode(p[:len(p)-1]); !errors.Is(err, ErrForged) {
		t.Fatalf("truncated: %v, want ErrForged", err)
	}
}

func TestNewCodecRefusesAShortSecret(t *testing.T) {
	if _, err := NewCodec([]byte("short")); err == nil {
		t.Fatal("NewCodec took a 5-byte secret")
	}
}

func FuzzDecode(f *testing.F) {
	c := testCodec(f)
	f.Add(c.Encode(&Msg{Kind: KindOpen, ID: "a", From: "n", Session: "s", Transport: "xhr", Method: "POST", Path: "/0/s/xhr", Body: []byte{0, 1}}))
	f.Add(c.Encode(&Msg{Kind: KindChunk, ID: "a", From: "n", Seq: 1, Status: 200, Header: http.Header{"A": {"b"}}}))
	f.Add(c.Encode(&Msg{Kind: KindAck, ID: "a", From: "n", Seq: 7, Err: "x"}))
	f.Fuzz(func(t *testing.T, p []byte) {
		// Fuzzed bytes almost never carry a valid tag: parse and check
		// directly too, as Decode would after the tag.
		if len(p) >= 3 {
			if m, err := parse(p); err == nil && m.check() == nil {
				again, err := parse(c.Encode(m)[:len(c.Encode(m))-tagBytes])
				if err != nil || !reflect.DeepEqual(again, m) {
					t.Fatalf("unstable: %+v vs %+v (%v)", again, m, err)
				}
			}
		}
		m, err := c.Decode(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrForged) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrForged", err)
			}
			return
		}
		// What decodes re-encodes to a message that decodes the same.
		again, err := c.Decode(c.Encode(m))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("unstable: %+v vs %+v", again, m)
		}
	})
}
