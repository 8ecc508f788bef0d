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
	d := wsDialer(o.Dialer, hc)
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
		env := &env{hc: hc, dialer: d, header: o.Header, query: query, maxFrame: o.MaxFrameBytes}
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
// taking TLS settings and proxy from hc's transport; either way with hc's
// cookie jar unless it has its own.
func wsDialer(d *websocket.Dialer, hc *http.Client) *websocket.Dialer {
	var c websocket.Dialer
	if d != nil {
		c = *d
	} else {
		c.Proxy = http.ProxyFromEnvironment
		if t, ok := hc.Transport.(*http.Transport); ok {
			c.Proxy = t.Proxy
			if t.TLSClientConfig != nil {
				c.TLSClientConfig = t.TLSClientConfig.Clone()
				// The websocket handshake is HTTP/1.1 only.
				c.TLSClientConfig.NextProtos = nil
			}
			c.NetDialContext = t.DialContext
		}
	}
	if c.Jar == nil {
		c.Jar = hc.Jar
	}
	return &c
}

// env is what a transport needs from Dial.
type env struct {
	hc       *http.Client
	dialer   *websocket.Dialer
	header   http.Header
	query    string // the endpoint URL's query, kept on every request
	maxFrame int
}
