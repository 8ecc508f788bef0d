package tunnel

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, m := range []*Msg{
		{Kind: KindOpen, ID: "n1:1", From: "n1", Session: "abc", Transport: "xhr_send", Method: "POST",
			Path: "/000/abc/xhr_send", RawQuery: "t=1", Host: "example.com", RemoteAddr: "10.0.0.1:5000", TLS: true,
			Header: http.Header{"Cookie": {"a=b"}}, Body: []byte("[\"x\\u0000\"]")},
		{Kind: KindChunk, ID: "n1:1", Seq: 1, Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte{0, 1, 0xff}},
		{Kind: KindChunk, ID: "n1:1", Seq: 2, Body: []byte("h\n")},
		{Kind: KindAck, ID: "n1:1", Seq: 2},
		{Kind: KindAck, ID: "n1:1", Seq: 3, Err: "write: broken pipe"},
		{Kind: KindEnd, ID: "n1:1", Seq: 3},
		{Kind: KindCancel, ID: "n1:1"},
	} {
		got, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("%s: %v", m.Kind, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", m.Kind, got, m)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, p := range map[string]string{
		"not json":        `x`,
		"no id":           `{"k":5}`,
		"unknown kind":    `{"k":9,"i":"a"}`,
		"open no from":    `{"k":1,"i":"a","sid":"s","t":"xhr","m":"POST","p":"/"}`,
		"open no session": `{"k":1,"i":"a","f":"n","t":"xhr","m":"POST","p":"/"}`,
		"open no path":    `{"k":1,"i":"a","f":"n","sid":"s","t":"xhr","m":"POST"}`,
		"chunk no seq":    `{"k":2,"i":"a","st":200}`,
		"first no status": `{"k":2,"i":"a","s":1}`,
		"ack no seq":      `{"k":3,"i":"a"}`,
	} {
		if _, err := Decode([]byte(p)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode(%s) = %v, want ErrMalformed", name, p, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"k":1,"i":"a","f":"n","sid":"s","t":"xhr","m":"POST","p":"/0/s/xhr","b":"AAE="}`))
	f.Add([]byte(`{"k":2,"i":"a","s":1,"st":200,"hd":{"A":["b"]}}`))
	f.Add([]byte(`{"k":3,"i":"a","s":7,"e":"x"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := Decode(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What decodes re-encodes to a message that decodes the same.
		again, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("unstable: %+v vs %+v", again, m)
		}
	})
}
