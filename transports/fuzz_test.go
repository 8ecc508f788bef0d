package transports

// Fuzz targets for the transports' small parsers and envelopes. Each checks
// a property against an independent reference (a regular expression, a
// spec-shaped parser) or a round trip, not only the absence of panics.
// Seed corpora are in testdata/fuzz/<target>; scripts/fuzz.sh runs every
// target briefly.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/internal/frame"
)

// iframePathRule is IsIframePath's documented pattern.
var iframePathRule = regexp.MustCompile(`^/iframe[0-9a-z._-]*\.html$`)

// FuzzIsIframePath checks IsIframePath against its documented pattern.
func FuzzIsIframePath(f *testing.F) {
	for _, s := range []string{"/iframe.html", "/iframe-1.6.1.html", "/iframe.HTML", "/iframe/.html", "/iframe.html/", "/IFRAME.html", "/iframe\x00.html", "/iframe.htm", "/iframehtml"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := IsIframePath(p), iframePathRule.MatchString(p); got != want {
			t.Fatalf("IsIframePath(%q) = %v; the pattern says %v", p, got, want)
		}
	})
}

// FuzzETagList checks etagListed, the If-None-Match matcher, on any two
// header lines: on values that are well-formed RFC 9110 If-None-Match
// lists it agrees with refIfNoneMatch; two lines mean what their
// comma-joined value means; and a list with the etag added, weak or
// strong, always matches.
func FuzzETagList(f *testing.F) {
	etag := NewIframePage("/sockjs.js", "", "").ETag()
	f.Add(etag, "", "3f2a")
	f.Add(`W/`+etag, `"x"`, "3f2a")
	f.Add(`"a", "b"`, `*`, "a")
	f.Add(`"a,b", W/"c"`, ``, "b")
	f.Add(` , ,"3f2a" ,`, `"x`, "3f2a")
	f.Add(`w/"3f2a"`, `"3f2a"x`, "3f2a")
	f.Fuzz(func(t *testing.T, v1, v2, inner string) {
		if inner == "" || strings.ContainsFunc(inner, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
			inner = "3f2a" // the page's ETags are lower-case hex
		}
		etag := `"` + inner + `"`
		vals := []string{v1, v2}
		got := etagListed(vals, etag)
		if joined := etagListed([]string{v1 + "," + v2}, etag); got != joined {
			t.Fatalf("lines %q give %v, joined with a comma %v", vals, got, joined)
		}
		if ref, ok := refIfNoneMatch(vals, etag); ok && got != ref {
			t.Fatalf("etagListed(%q, %s) = %v; RFC 9110 says %v", vals, etag, got, ref)
		}
		for _, extra := range []string{etag, "W/" + etag} {
			if !etagListed([]string{v1 + ", " + extra, v2}, etag) || !etagListed([]string{v1, extra}, etag) {
				t.Fatalf("%q with %s added does not match", vals, extra)
			}
		}
	})
}

// refIfNoneMatch parses If-None-Match field lines as RFC 9110 13.1.2
// writes them: "*" alone, or a list of entity tags [W/]"etagc*" with
// optional whitespace and empty elements. It reports whether they name
// etag under the weak comparison, and ok=false when a line is malformed.
func refIfNoneMatch(lines []string, etag string) (match, ok bool) {
	for _, line := range lines {
		line = strings.Trim(line, " \t")
		if line == "*" {
			match = true
			continue
		}
		for i := 0; i < len(line); {
			switch line[i] {
			case ' ', '\t', ',':
				i++
				continue
			}
			if strings.HasPrefix(line[i:], `W/`) {
				i += 2
			}
			if i >= len(line) || line[i] != '"' {
				return false, false
			}
			j := i + 1
			for j < len(line) && (line[j] == 0x21 || line[j] >= 0x23 && line[j] != 0x7f) {
				j++
			}
			if j >= len(line) || line[j] != '"' {
				return false, false
			}
			if line[i:j+1] == etag {
				match = true
			}
			i = j + 1
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
			if i < len(line) && line[i] != ',' {
				return false, false
			}
		}
	}
	return match, true
}

// FuzzHeaderHasToken checks the Connection token matcher against a
// regular expression per field line, and that case and the split of a
// list into field lines do not matter.
func FuzzHeaderHasToken(f *testing.F) {
	for _, s := range [][3]string{
		{"Upgrade", "", "upgrade"}, {"keep-alive, Upgrade", "", "upgrade"}, {"keep-alive", "upgrade", "upgrade"},
		{"upgrade2", "", "upgrade"}, {" \tUPGRADE\t ", "", "upgrade"}, {",,", "x-upgrade", "upgrade"}, {"close", "", "close"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, v1, v2, token string) {
		if token == "" || strings.ContainsFunc(token, func(r rune) bool { return r >= utf8.RuneSelf || !isTchar(byte(r)) }) {
			return // callers pass a token
		}
		h := http.Header{"Connection": {v1, v2}}
		got := headerHasToken(h, "Connection", token)
		re := regexp.MustCompile(`(?i)(^|,)[ \t]*` + regexp.QuoteMeta(token) + `[ \t]*(,|$)`)
		// (?i) folds Unicode too, as strings.EqualFold does.
		if want := re.MatchString(v1) || re.MatchString(v2); got != want {
			t.Fatalf("headerHasToken(%q, %q) = %v; want %v", h["Connection"], token, got, want)
		}
		if joined := headerHasToken(http.Header{"Connection": {v1 + "," + v2}}, "Connection", token); joined != got {
			t.Fatalf("lines %q give %v, joined %v", h["Connection"], got, joined)
		}
		if upper := headerHasToken(h, "Connection", strings.ToUpper(token)); upper != got {
			t.Fatalf("token %q gives %v, upper-cased %v", token, got, upper)
		}
		if !headerHasToken(http.Header{"Connection": {v1 + ", " + token}}, "Connection", token) {
			t.Fatalf("%q does not list %q", v1+", "+token, token)
		}
	})
}

func isTchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// FuzzCheckUpgrade checks that a handshake passes checkUpgrade exactly
// when Upgrade is "websocket" (any case) and Connection lists "upgrade",
// and that a refusal is a 400.
func FuzzCheckUpgrade(f *testing.F) {
	f.Add("websocket", "Upgrade")
	f.Add("WebSocket", "keep-alive, upgrade")
	f.Add("websocket, h2c", "Upgrade")
	f.Add("", "Upgrade")
	f.Add("websocket", "close")
	f.Fuzz(func(t *testing.T, upgrade, connection string) {
		r := httptest.NewRequest(http.MethodGet, "/a/b/websocket", nil)
		r.Header.Set("Upgrade", upgrade)
		r.Header.Set("Connection", connection)
		w := httptest.NewRecorder()
		got := checkUpgrade(w, r)
		want := strings.EqualFold(upgrade, "websocket") && headerHasToken(r.Header, "Connection", "upgrade")
		if got != want {
			t.Fatalf("checkUpgrade(Upgrade %q, Connection %q) = %v; want %v", upgrade, connection, got, want)
		}
		if !got && w.Code != http.StatusBadRequest {
			t.Fatalf("refusal answered %d; want 400", w.Code)
		}
	})
}

// FuzzEventSourceFrame checks the eventsource envelope with a reference
// event-stream parser (the WHATWG algorithm): a frame of any messages
// comes out as exactly one event whose data, decoded as sockjs-client does
// (decodeURI, where only "%25" can occur), is the frame; and no '%' of the
// record starts anything but "%25".
func FuzzEventSourceFrame(f *testing.F) {
	for _, s := range []string{"hello", "%41%zz%", "100%", "\r\n\x00", "data: x\n\nevent: y", "\u2028😀", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		fr := frame.AppendMessages(nil, [][]byte{frame.AppendQuote(nil, msg)})
		if strings.ContainsAny(string(fr), "\r\n\x00") {
			t.Fatalf("frame %q holds CR, LF or NUL, which the envelope cannot carry", fr)
		}
		for _, f := range [][]byte{fr, []byte(msg)} {
			if strings.ContainsAny(string(f), "\r\n") {
				continue // not a frame: only the first case is
			}
			stream := append(append([]byte(nil), eventSourcePrelude...), eventSourceFrame(nil, nil, f)...)
			events := parseEventStream(string(stream))
			if len(events) != 1 {
				t.Fatalf("frame %q gave events %q; want one", f, events)
			}
			data := events[0]
			for i := 0; i < len(data); i++ {
				if data[i] == '%' && !strings.HasPrefix(data[i:], "%25") {
					t.Fatalf("record %q has a %% that decodeURI would decode", data)
				}
			}
			if got := strings.ReplaceAll(data, "%25", "%"); got != string(f) {
				t.Fatalf("frame %q came back as %q", f, got)
			}
		}
	})
}

// parseEventStream is the WHATWG event-stream interpretation, reduced to
// the data field: lines end in CRLF, LF or CR; "data:" appends its value
// (one leading space removed) and a LF; a blank line dispatches the event
// unless its data is empty; a final event without a blank line is dropped.
func parseEventStream(s string) []string {
	var events []string
	var data strings.Builder
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			break // an incomplete line is never dispatched
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
		if line == "" {
			if data.Len() > 0 {
				events = append(events, strings.TrimSuffix(data.String(), "\n"))
			}
			data.Reset()
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		if name == "data" {
			data.WriteString(value)
			data.WriteByte('\n')
		}
	}
	return events
}

// scriptUnsafe are the characters that must never appear raw in the
// JavaScript string of an htmlfile or jsonp response: they could end the
// <script> element, open markup or a comment, be sniffed as HTML, end the
// string, or end the line in older JavaScript engines.
const scriptUnsafe = "<>&'\r\n\u2028\u2029"

// checkScriptString checks the JavaScript string literal js that an
// envelope wrote for frame f: nothing of scriptUnsafe raw, and as JSON it
// decodes to f (invalid UTF-8 replaced by U+FFFD, as the quoting does).
func checkScriptString(t *testing.T, js string, f []byte) {
	t.Helper()
	if i := strings.IndexAny(js, scriptUnsafe); i >= 0 {
		t.Fatalf("script string holds %q raw: %q", js[i:i+1], js)
	}
	var got string
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("script string %q is not a JSON string: %v", js, err)
	}
	if want := validRunes(string(f)); got != want {
		t.Fatalf("frame %q came back as %q", f, got)
	}
}

// validRunes replaces each invalid byte by one U+FFFD, as the quoting does.
func validRunes(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzHTMLFileFrame checks the htmlfile envelope on any frame bytes: one
// <script> block calling p() with a JavaScript string that holds none of
// scriptUnsafe raw and decodes to the frame, and no other markup.
func FuzzHTMLFileFrame(f *testing.F) {
	for _, s := range []string{`a["</script><script>alert(1)</script>"]`, "<!--", "\u2028\u2029", "a'b&c", "\xff\xfe", `c[3000,"Go away!"]`, "o"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, fr []byte) {
		for _, in := range [][]byte{fr, frame.AppendMessages(nil, [][]byte{frame.AppendQuote(nil, string(fr))})} {
			out := string(htmlfileFrame(nil, nil, in))
			js, ok := strings.CutPrefix(out, "<script>\np(")
			js, ok2 := strings.CutSuffix(js, ");\n</script>\r\n")
			if !ok || !ok2 {
				t.Fatalf("htmlfile chunk %q is not a <script> p(...) block", out)
			}
			checkScriptString(t, js, in)
			lower := strings.ToLower(out)
			if strings.Count(lower, "<script") != 1 || strings.Count(lower, "</script") != 1 || strings.Contains(out, "<!--") {
				t.Fatalf("htmlfile chunk %q has markup beyond its own <script> block", out)
			}
		}
	})
}

// FuzzJSONPFrame checks the jsonp envelope the same way: /**/cb(string);
// with a script-safe string that decodes to the frame.
func FuzzJSONPFrame(f *testing.F) {
	for _, s := range []string{`a["</script>"]`, "\u2028", "'&<>", "\xc0\x80", "o"} {
		f.Add([]byte(s))
	}
	r := httptest.NewRequest(http.MethodGet, "/a/b/jsonp?c=_jp.a1", nil)
	f.Fuzz(func(t *testing.T, fr []byte) {
		for _, in := range [][]byte{fr, frame.AppendMessages(nil, [][]byte{frame.AppendQuote(nil, string(fr))})} {
			out := string(jsonpFrame(nil, r, in))
			js, ok := strings.CutPrefix(out, "/**/_jp.a1(")
			js, ok2 := strings.CutSuffix(js, ");\r\n")
			if !ok || !ok2 {
				t.Fatalf("jsonp response %q is not /**/cb(...);", out)
			}
			checkScriptString(t, js, in)
		}
	})
}

// FuzzRawText checks the raw websocket framer: the text sent for a queued
// message is the message (each invalid byte as U+FFFD), valid UTF-8,
// whichever path (no escape, or an unquote) it takes.
func FuzzRawText(f *testing.F) {
	for _, s := range []string{"plain", `with "quotes" and \ backslash`, "\x00\u2028😀", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got, _ := rawText(frame.AppendQuote(nil, msg), nil)
		if want := validRunes(msg); string(got) != want {
			t.Fatalf("rawText of %q = %q; want %q", msg, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("rawText of %q is not UTF-8", msg)
		}
	})
}

// FuzzTruncateReason checks close-reason truncation: the longest prefix
// that fits a close frame (123 bytes) and ends at a character boundary,
// so that a valid reason stays valid UTF-8 and the control frame stays
// within 125 bytes.
func FuzzTruncateReason(f *testing.F) {
	for _, s := range []string{"Go away!", strings.Repeat("é", 70), strings.Repeat("a", 122) + "😀", strings.Repeat("x", 200), "\xff\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := truncateReason(s)
		if !strings.HasPrefix(s, got) || len(got) > 123 {
			t.Fatalf("truncateReason(%q) = %q: not a prefix of at most 123 bytes", s, got)
		}
		if len(s) <= 123 && got != s {
			t.Fatalf("truncateReason(%q) = %q; it fits as it is", s, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("truncateReason(%q) = %q, not UTF-8", s, got)
		}
		if len(got) < len(s) {
			_, size := utf8.DecodeRuneInString(s[len(got):])
			if utf8.ValidString(s) && len(got)+size <= 123 {
				t.Fatalf("truncateReason(%q) = %q; the next character fits too", s, got)
			}
		}
		if n := len(websocket.FormatCloseMessage(wireCloseCode(3000), got)); n > 125 {
			t.Fatalf("close frame payload of %d bytes", n)
		}
	})
}

// FuzzWireCloseCode checks that the code put on the wire is one a
// WebSocket endpoint may send (RFC 6455 7.4 and the IANA registry), and
// is the session's own code whenever that is one.
func FuzzWireCloseCode(f *testing.F) {
	for _, c := range []int{1000, 1005, 1006, 1015, 2010, 3000, 4999, 5000, -1, 0} {
		f.Add(c)
	}
	sendable := func(c int) bool {
		switch c {
		case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
			return true
		}
		return c >= 3000 && c < 5000
	}
	f.Fuzz(func(t *testing.T, code int) {
		got := wireCloseCode(code)
		if !sendable(got) {
			t.Fatalf("wireCloseCode(%d) = %d, which may not be sent", code, got)
		}
		if sendable(code) && got != code {
			t.Fatalf("wireCloseCode(%d) = %d; the code may be sent as it is", code, got)
		}
	})
}

// FuzzIframePage checks that any sockjs-client URL, and any integrity
// hash, stays inside its attribute of the iframe page: the page is the
// template with the script tag's attributes, HTML-escaped, in their one
// place, and nothing else. The input is tried as the URL without a hash,
// as the hash of a plain URL, and as both.
func FuzzIframePage(f *testing.F) {
	for _, s := range []string{"/sockjs.js", `https://x/"><script>alert(1)</script>`, "a&b'c<d", "%s", "\x00", "sha384-abc+/=="} {
		f.Add(s)
	}
	head, tail, _ := strings.Cut(iframeTemplate, "%s")
	// attrValue cuts the value of the attribute name="..." from the front
	// of s, checks it and returns what follows.
	attrValue := func(t *testing.T, s, name, want string) string {
		t.Helper()
		rest, ok := strings.CutPrefix(s, name+`="`)
		if !ok {
			t.Fatalf("no %s attribute at %q", name, s)
		}
		v, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			t.Fatalf("%s attribute not closed in %q", name, s)
		}
		if strings.ContainsAny(v, `<>'`) {
			t.Fatalf("%s value %q holds a raw quote or bracket", name, v)
		}
		if got := htmlUnescape(v); got != want {
			t.Fatalf("%s %q reads back as %q; want %q", name, v, got, want)
		}
		return rest
	}
	f.Fuzz(func(t *testing.T, u string) {
		for _, c := range []struct{ src, integrity string }{{u, ""}, {"/s.js", u}, {u, u}} {
			body := string(NewIframePage(c.src, c.integrity, "").body)
			attrs, ok := strings.CutPrefix(body, head)
			attrs, ok2 := strings.CutSuffix(attrs, tail)
			if !ok || !ok2 {
				t.Fatalf("page for %q, %q is not the template:\n%s", c.src, c.integrity, body)
			}
			rest := attrValue(t, attrs, "src", c.src)
			if c.integrity != "" {
				rest = attrValue(t, strings.TrimPrefix(rest, " "), "integrity", c.integrity)
				if rest != ` crossorigin="anonymous"` {
					t.Fatalf("after integrity: %q", rest)
				}
			} else if rest != "" {
				t.Fatalf("after src, without a hash: %q", rest)
			}
		}
	})
}

// htmlUnescape undoes exactly the five escapes of html.EscapeString, as
// the HTML attribute parser reads them.
func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#34;", `"`).Replace(s)
}
