package sockjs_test

import (
	"net/http"
	"strings"
	"testing"
)

// serverEscapable is the suite's escapable_by_server set from U+00FF on:
// the 44 code points the server must send as lower-case \u escapes.
func serverEscapable() []rune {
	var rs []rune
	for _, rg := range [][2]rune{{0x200c, 0x200f}, {0x2028, 0x202f}, {0x2060, 0x206f}, {0xfff0, 0xffff}} {
		for r := rg[0]; r <= rg[1]; r++ {
			rs = append(rs, r)
		}
	}
	return rs
}

// clientEscapable is the suite's escapable_by_client set: 1093 code points
// in 112 ranges (docs/PROTOCOL-RULES.md, JSONEncoding).
var clientEscapable = [][2]rune{
	{0x0000, 0x001f}, {0x0022, 0x0022}, {0x007f, 0x009f}, {0x00ad, 0x00ad}, {0x0300, 0x0333},
	{0x033d, 0x0346}, {0x034a, 0x034c}, {0x0350, 0x0352}, {0x0357, 0x0358}, {0x035c, 0x0362},
	{0x0374, 0x0374}, {0x037e, 0x037e}, {0x0387, 0x0387}, {0x0591, 0x05af}, {0x05c4, 0x05c4},
	{0x0600, 0x0604}, {0x0610, 0x0617}, {0x0653, 0x0654}, {0x0657, 0x065b}, {0x065d, 0x065e},
	{0x06df, 0x06e2}, {0x06eb, 0x06ec}, {0x070f, 0x070f}, {0x0730, 0x0730}, {0x0732, 0x0733},
	{0x0735, 0x0736}, {0x073a, 0x073a}, {0x073d, 0x073d}, {0x073f, 0x0741}, {0x0743, 0x0743},
	{0x0745, 0x0745}, {0x0747, 0x0747}, {0x07eb, 0x07f1}, {0x0951, 0x0951}, {0x0958, 0x095f},
	{0x09dc, 0x09dd}, {0x09df, 0x09df}, {0x0a33, 0x0a33}, {0x0a36, 0x0a36}, {0x0a59, 0x0a5b},
	{0x0a5e, 0x0a5e}, {0x0b5c, 0x0b5d}, {0x0e38, 0x0e39}, {0x0f43, 0x0f43}, {0x0f4d, 0x0f4d},
	{0x0f52, 0x0f52}, {0x0f57, 0x0f57}, {0x0f5c, 0x0f5c}, {0x0f69, 0x0f69}, {0x0f72, 0x0f76},
	{0x0f78, 0x0f78}, {0x0f80, 0x0f83}, {0x0f93, 0x0f93}, {0x0f9d, 0x0f9d}, {0x0fa2, 0x0fa2},
	{0x0fa7, 0x0fa7}, {0x0fac, 0x0fac}, {0x0fb9, 0x0fb9}, {0x17b4, 0x17b5}, {0x1939, 0x193a},
	{0x1a17, 0x1a17}, {0x1b6b, 0x1b6b}, {0x1cda, 0x1cdb}, {0x1dc0, 0x1dcf}, {0x1dfc, 0x1dfc},
	{0x1dfe, 0x1dfe}, {0x1f71, 0x1f71}, {0x1f73, 0x1f73}, {0x1f75, 0x1f75}, {0x1f77, 0x1f77},
	{0x1f79, 0x1f79}, {0x1f7b, 0x1f7b}, {0x1f7d, 0x1f7d}, {0x1fbb, 0x1fbb}, {0x1fbe, 0x1fbe},
	{0x1fc9, 0x1fc9}, {0x1fcb, 0x1fcb}, {0x1fd3, 0x1fd3}, {0x1fdb, 0x1fdb}, {0x1fe3, 0x1fe3},
	{0x1feb, 0x1feb}, {0x1fee, 0x1fef}, {0x1ff9, 0x1ff9}, {0x1ffb, 0x1ffb}, {0x1ffd, 0x1ffd},
	{0x2000, 0x20ff}, {0x2126, 0x2126}, {0x212a, 0x212b}, {0x2329, 0x232a}, {0x2adc, 0x2adc},
	{0x302b, 0x302c}, {0xaab2, 0xaab3}, {0xf900, 0xfa0d}, {0xfa10, 0xfa10}, {0xfa12, 0xfa12},
	{0xfa15, 0xfa1e}, {0xfa20, 0xfa20}, {0xfa22, 0xfa22}, {0xfa25, 0xfa26}, {0xfa2a, 0xfa2d},
	{0xfa30, 0xfa6d}, {0xfa70, 0xfad9}, {0xfb1d, 0xfb1d}, {0xfb1f, 0xfb1f}, {0xfb2a, 0xfb36},
	{0xfb38, 0xfb3c}, {0xfb3e, 0xfb3e}, {0xfb40, 0xfb41}, {0xfb43, 0xfb44}, {0xfb46, 0xfb4e},
	{0xfeff, 0xfeff}, {0xfff0, 0xffff},
}

// lowerEscape writes r as \u and four lower-case hex digits.
func lowerEscape(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	b.WriteByte(hex[r>>12&0xf])
	b.WriteByte(hex[r>>8&0xf])
	b.WriteByte(hex[r>>4&0xf])
	b.WriteByte(hex[r&0xf])
}

// R-JSON-1: the server escapes the 44 code points, in lower-case \uXXXX.
func TestProtocolJSONEncodingServerEscapes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	rs := serverEscapable()
	if len(rs) != 44 {
		t.Fatalf("%d code points; want 44", len(rs))
	}
	expectBody(t, f.post(t, base+"/xhr_send", `["`+string(rs)+`"]`), http.StatusNoContent, "")
	r := f.post(t, base+"/xhr", "")
	expectStatus(t, r, http.StatusOK)
	body := strings.TrimSpace(r.Body())
	var want strings.Builder
	want.WriteByte('"')
	for _, c := range rs {
		lowerEscape(&want, c)
	}
	want.WriteByte('"')
	if len(body) < 3 || body[:2] != "a[" || body[len(body)-1] != ']' {
		t.Fatalf("body %q is not one message frame", abbrev(body))
	}
	if got := body[2 : len(body)-1]; got != want.String() {
		t.Fatalf("encoded message\n got %s\nwant %s", got, want.String())
	}
}

// R-JSON-2: the server decodes every client-escapable code point sent as a
// \u escape, and sends back valid JSON and UTF-8 that decodes to it.
func TestProtocolJSONEncodingClientEscapes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	var body, want strings.Builder
	body.WriteString(`["`)
	n := 0
	for _, rg := range clientEscapable {
		for r := rg[0]; r <= rg[1]; r++ {
			lowerEscape(&body, r)
			want.WriteRune(r)
			n++
		}
	}
	body.WriteString(`"]`)
	if n != 1093 || body.Len() != 6562 {
		t.Fatalf("%d code points, %d bytes; want 1093 and 6562", n, body.Len())
	}
	for _, esc := range []string{`\u0000`, `\u0022`, `\ufffe`, `\uffff`} {
		if !strings.Contains(body.String(), esc) {
			t.Fatalf("the payload lacks %s", esc)
		}
	}
	expectBody(t, f.post(t, base+"/xhr_send", body.String()), http.StatusNoContent, "")
	msgs, _ := pollMessages(t, f, base, 1)
	if msgs[0] != want.String() {
		t.Fatalf("the message came back changed:\n got %+q\nwant %+q", abbrev(msgs[0]), abbrev(want.String()))
	}
}
