package transports

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sockline/sockline/internal/frame"
)

// jsonpFrame is the jsonp envelope: /**/callback("frame");\r\n. The frame is
// a JavaScript string escaped by frame.AppendQuoteHTML, so the response
// holds no <, > or & at all. The leading empty comment keeps the response
// from starting with bytes the requester chose: with only an alphanumeric
// callback in front, a crafted name can make the response a valid Flash
// file or another format a plugin or browser sniffs (the "Rosetta Flash"
// attack). The SockJS protocol suite expects no such prefix; see the
// package documentation.
func jsonpFrame(dst []byte, r *http.Request, f []byte) []byte {
	dst = append(dst, "/**/"...)
	dst = append(dst, callbackName(r)...)
	dst = append(dst, '(')
	dst = frame.AppendQuoteHTMLBytes(dst, f)
	return append(dst, ");\r\n"...)
}

var jsonpPolling = &framing{
	name:        NameJSONP,
	contentType: "application/javascript; charset=UTF-8",
	nosniff:     true,
	check:       checkCallback,
	wrap:        jsonpFrame,
}

// JSONP serves GET {prefix}/{server}/{session}/jsonp?c=callback: one frame
// per response, as a call of the callback. A missing or invalid callback
// is answered 500 before any session is touched.
func (c *Config) JSONP(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	c.receive(s, jsonpPolling, w, r, id)
}

// JSONPSend serves POST {prefix}/{server}/{session}/jsonp_send: messages for
// an existing session, as the form field d of an
// application/x-www-form-urlencoded body, or as the raw body with any other
// Content-Type. It answers 200 "ok" rather than 204, which some browsers
// (Konqueror) treated as a failed form post; unknown sessions get 404 and
// empty or broken payloads the protocol's 500s. It is bounded like
// xhr_send (see Config.send).
func (c *Config) JSONPSend(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	if !c.send(s, w, r, id, jsonpPayload) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	NoCache(h)
	_, _ = w.Write(jsonpSendOK)
}

var jsonpSendOK = []byte("ok")

// errBadForm reports a form body whose d field is not valid URL encoding.
var errBadForm = errors.New("sockjs: malformed form field d")

// jsonpPayload extracts the JSON payload of a jsonp_send request body:
//
//   - Content-Type application/x-www-form-urlencoded (any case, parameters
//     ignored): the value of the first field named d, URL-decoded ('+' is a
//     space); no d field at all gives an empty payload. A d value that is
//     not valid URL encoding is an error. Fields are separated by '&';
//     other fields are ignored, even malformed ones.
//   - Any other Content-Type, or none: the body exactly as sent, never
//     URL-decoded (a message "%61" stays "%61").
//
// The caller decodes the payload with frame.DecodeMessages, which answers
// an empty one with "Payload expected.".
func jsonpPayload(contentType string, body []byte) ([]byte, error) {
	if !isForm(contentType) {
		return body, nil
	}
	for len(body) > 0 {
		var field []byte
		field, body, _ = bytes.Cut(body, []byte{'&'})
		key, value, _ := bytes.Cut(field, []byte{'='})
		if k, err := url.QueryUnescape(string(key)); err != nil || k != "d" {
			continue
		}
		v, err := url.QueryUnescape(string(value))
		if err != nil {
			return nil, errBadForm
		}
		return []byte(v), nil
	}
	return nil, nil
}

func isForm(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}
