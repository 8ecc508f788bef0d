package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"slices"

	"github.com/gorilla/websocket"
)

// Dial opens a SockJS session to the endpoint url, such as
// "https://example.com/echo". It reads /info, then tries the transports
// of opts.Transports in their order (nil: all, in sockjs-client's order),
// each with a new session id, and returns once one has opened (the
// server's "o" frame).
// A transport that fails to open (refused, blocked upgrade, an HTTP error,
// the open timeout) makes it try the next. So does a close frame instead
// of the open frame, unless its code is 1000, 2000 or 3000-4999: 1002,
// 2010 "Another connection still open" and the other protocol codes tell
// of trouble with that transport, the others are the server's answer to
// the session and end Dial with that *CloseError.
//
// A query in url ("https://example.com/echo?access_token=abc") is kept on
// every request, after the path: /info?access_token=abc, the websocket
// handshake, and every stream, poll and send
// (/echo/123/abcdefgh/xhr_streaming?access_token=abc), as sockjs-client
// keeps it. Errors leave it out, for it may hold a secret.
//
// ctx bounds the dialing only; the session then lives until Close, the
// server closes it or the transport fails; /info has a timeout of its own
// (Options.InfoTimeout). A failure is a *CloseError (code 2000 when every
// transport failed, 1002 when /info could not be read) wrapping ErrTransport, ErrTimeout or, when the server answered
// with a close frame of 1000, 2000 or 3000-4999, ErrServerClosed; or
// ctx's error.
func Dial(ctx context.Context, url string, opts *Options) (*Conn, error) {
	o := opts.withDefaults()
	base, query, err := parseBase(url)
	if err != nil {
		return nil, err
	}
	wanted, err := checkTransports(o.Transports)
	if err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	ictx, cancel := ctx, context.CancelFunc(func() {})
	if o.InfoTimeout > 0 {
		ictx, cancel = context.WithTimeout(ctx, o.InfoTimeout)
	}
	in, rtt, err := fetchInfo(ictx, hc, base, query, o.Header)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(ictx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: GET /info: no answer within %v (Options.InfoTimeout); check that the server is up, or raise InfoTimeout for a slow one: %w", ErrTimeout, o.InfoTimeout, err)
		} else {
			err = fmt.Errorf("%w: %w", ErrTransport, err)
		}
		return nil, &CloseError{Code: 1002, Reason: "Cannot connect to server", Err: err}
	}
	if in.CookieNeeded && hc.Jar == nil {
		jar, _ := cookiejar.New(nil) // never fails without options
		c := *hc
		c.Jar = jar
		hc = &c
	}
	d, wsHint := wsDialer(o.Dialer, hc)
	openTimeout := o.openTimeout(rtt)
	server := newServerID()

	var errs []error
	for _, name := range wanted {
		if name == WebSocket && !in.WebSocket {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sessionURL := base + "/" + server + "/" + newSessionID()
		env := &env{hc: hc, dialer: d, wsHint: wsHint, header: o.Header, query: query, maxFrame: o.MaxFrameBytes}
		tr, err := openTransport(ctx, name, sessionURL, env, openTimeout)
		if err == nil {
			return newConn(name, tr, o), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ce *CloseError
		if errors.As(err, &ce) && errors.Is(err, ErrServerClosed) && endsDial(ce.Code) {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: websocket is off on this server (/info says websocket: false)", ErrTransport))
	}
	return nil, &CloseError{Code: codeAllFailed, Reason: reasonAllFailed, Err: errors.Join(errs...)}
}

// endsDial reports whether a close frame of code, received instead of the
// open frame, is the server's answer to the session rather than trouble
// with the transport: the codes an application closes with (1000,
// 3000-4999) and 2000. sockjs-client's rule for a transport that closes
// before it opened (lib/main.js, _transportClose).
func endsDial(code int) bool {
	return code == codeNormal || code == codeAllFailed || code >= 3000 && code <= 4999
}

// checkTransports returns the transports to try: sockjs-client's order
// when names is nil, else names in their order, each once.
func checkTransports(names []string) ([]string, error) {
	if names == nil {
		return transportOrder, nil
	}
	var out []string
	for _, n := range names {
		if !slices.Contains(transportOrder, n) {
			return nil, fmt.Errorf("client: unknown transport %q; use %q, %q, %q or %q", n, WebSocket, XHRStreaming, EventSource, XHRPolling)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("client: Options.Transports is empty; leave it nil for every transport")
	}
	return out, nil
}

// wsDialer returns the websocket dialer to use: the caller's, or one
// taking TLS settings, proxy and dialer from the *http.Transport under hc's
// transport (see httpTransportOf); either way with hc's cookie jar unless
// it has its own. hint is what to do when the websocket cannot connect
// because no *http.Transport was found, or "".
func wsDialer(d *websocket.Dialer, hc *http.Client) (_ *websocket.Dialer, hint string) {
	var c websocket.Dialer
	if d != nil {
		c = *d
	} else if t := httpTransportOf(hc.Transport); t != nil {
		c.Proxy = t.Proxy
		if t.TLSClientConfig != nil {
			c.TLSClientConfig = t.TLSClientConfig.Clone()
			// The websocket handshake is HTTP/1.1 only.
			c.TLSClientConfig.NextProtos = nil
		}
		c.NetDialContext = t.DialContext
	} else {
		c.Proxy = http.ProxyFromEnvironment
		hint = fmt.Sprintf("the websocket dialer found no *http.Transport under Options.HTTPClient's Transport (%T) to take TLS settings and proxy from: give that RoundTripper an Unwrap() http.RoundTripper method returning the transport it wraps, or set Options.Dialer", hc.Transport)
	}
	if c.Jar == nil {
		c.Jar = hc.Jar
	}
	return &c, hint
}

// httpTransportOf returns the *http.Transport that rt is or wraps, found
// through Unwrap() http.RoundTripper methods, as the wrappers of a
// transport (logging, authentication, metrics) may offer; nil rt means
// http.DefaultTransport, as for http.Client. It returns nil when there is
// none.
func httpTransportOf(rt http.RoundTripper) *http.Transport {
	if rt == nil {
		rt = http.DefaultTransport
	}
	for range 100 { // a bound, should Unwrap go round in circles
		switch t := rt.(type) {
		case *http.Transport:
			return t
		case interface{ Unwrap() http.RoundTripper }:
			if rt = t.Unwrap(); rt == nil {
				return nil
			}
		default:
			return nil
		}
	}
	return nil
}

// env is what a transport needs from Dial.
type env struct {
	hc       *http.Client
	dialer   *websocket.Dialer
	wsHint   string // what to do when the websocket cannot connect, or ""
	header   http.Header
	query    string // the endpoint URL's query, kept on every request
	maxFrame int
}
