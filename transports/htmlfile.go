package transports

import (
	"net/http"

	"github.com/sockline/sockline/internal/frame"
)

// htmlfileHead is the start of the htmlfile page, up to the callback name.
// The page runs in a hidden iframe (old IE's "forever frame"): it hands
// each frame to the parent page's callback through p(). Its text is fixed
// by the SockJS protocol.
const (
	htmlfileHead = `<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.`
	htmlfileTail = `;
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>`
	// htmlfileMinPrelude is the size the prelude is padded to: browsers
	// (old IE, Safari) render nothing of a page before its first KiB.
	htmlfileMinPrelude = 1024
)

// htmlfilePrelude returns the page head with the request's callback (which
// checkCallback has validated) padded with spaces past 1 KiB.
func htmlfilePrelude(r *http.Request) []byte {
	name := callbackName(r)
	p := make([]byte, 0, max(len(htmlfileHead)+len(name)+len(htmlfileTail), htmlfileMinPrelude)+4)
	p = append(p, htmlfileHead...)
	p = append(p, name...)
	p = append(p, htmlfileTail...)
	for len(p) < htmlfileMinPrelude {
		p = append(p, ' ')
	}
	return append(p, "\r\n\r\n"...)
}

// htmlfileFrame wraps a frame in a <script> block that calls p() with it
// as a JavaScript string. frame.AppendQuoteHTML escapes <, >, & and ' as
// well as quotes and line terminators, so no message can end the script
// element, open a comment or otherwise run in the server's origin.
// (sockjs-node wrote messages here with plain JSON escaping, and a message
// holding "</script>" broke out of the block.)
func htmlfileFrame(dst []byte, _ *http.Request, f []byte) []byte {
	dst = append(dst, "<script>\np("...)
	dst = frame.AppendQuoteHTMLBytes(dst, f)
	return append(dst, ");\n</script>\r\n"...)
}

var htmlFile = &framing{
	name:        NameHTMLFile,
	contentType: "text/html; charset=UTF-8",
	nosniff:     true,
	streaming:   true,
	check:       checkCallback,
	prelude:     htmlfilePrelude,
	wrap:        htmlfileFrame,
}

// HTMLFile serves GET {prefix}/{server}/{session}/htmlfile?c=callback: an
// HTML page that streams frames as <script> blocks calling
// parent.callback, until the response limit. A missing or invalid callback
// is answered 500 before any session is touched. The page may be framed
// only by the pages Config.FrameAncestors names.
func (c *Config) HTMLFile(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	if c.FrameAncestors != "" {
		w.Header().Set("Content-Security-Policy", "frame-ancestors "+c.FrameAncestors)
	}
	c.receive(s, htmlFile, w, r, id)
}
