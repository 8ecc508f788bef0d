package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// httpTransport is xhr-streaming, xhr-polling and eventsource: a receiving
// request (a POST to xhr_streaming or xhr, a GET to eventsource) that is
// reopened whenever it ends (response limit reached, poll answered), and
// sends by POST to xhr_send.
type httpTransport struct {
	name    string
	recvURL string
	sendURL string
	method  string
	e       *env
	life    context.Context
	cancel  context.CancelFunc

	// Owned by the goroutine calling next.
	body   io.ReadCloser
	lines  *lineReader
	events *eventReader
	frames int // frames read from the current response
}

func newHTTPTransport(name, sessionURL string, e *env) *httpTransport {
	t := &httpTransport{name: name, e: e, sendURL: withQuery(sessionURL+"/xhr_send", e.query), method: http.MethodPost}
	switch name {
	case XHRStreaming:
		t.recvURL = withQuery(sessionURL+"/xhr_streaming", e.query)
	case XHRPolling:
		t.recvURL = withQuery(sessionURL+"/xhr", e.query)
	case EventSource:
		t.recvURL = withQuery(sessionURL+"/eventsource", e.query)
		t.method = http.MethodGet
	}
	t.life, t.cancel = context.WithCancel(context.Background())
	return t
}

// open starts a receiving request.
func (t *httpTransport) open() error {
	req, err := http.NewRequestWithContext(t.life, t.method, t.recvURL, nil)
	if err != nil {
		return err
	}
	addHeader(req, t.e.header)
	if t.name == EventSource {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := t.e.hc.Do(req)
	if err != nil {
		return t.failed(hideURLQuery(err))
	}
	if resp.StatusCode != http.StatusOK {
		// The server's text says why (shutting down, store unavailable...).
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return fmt.Errorf("%s %s answered %s%s", t.method, hideQuery(t.recvURL), resp.Status, quoteBody(body))
	}
	t.body, t.frames = resp.Body, 0
	if t.name == EventSource {
		t.events = newEventReader(resp.Body, t.e.maxFrame)
	} else {
		t.lines = newLineReader(resp.Body, t.e.maxFrame)
	}
	return nil
}

// failed turns an error seen after abort into errAborted.
func (t *httpTransport) failed(err error) error {
	if t.life.Err() != nil {
		return errAborted
	}
	return err
}

func (t *httpTransport) next() (parsedFrame, error) {
	for {
		if t.body == nil {
			if err := t.open(); err != nil {
				return parsedFrame{}, err
			}
		}
		var raw []byte
		var err error
		if t.events != nil {
			raw, err = t.events.next()
		} else {
			raw, err = t.lines.next()
		}
		if err == nil {
			t.frames++
			return parseFrame(raw)
		}
		t.body.Close()
		t.body, t.lines, t.events = nil, nil, nil
		if errors.Is(err, io.EOF) && t.life.Err() == nil {
			if t.frames == 0 {
				return parsedFrame{}, fmt.Errorf("%s ended without a frame", hideQuery(t.recvURL))
			}
			continue // the response limit or a poll's answer: reopen
		}
		return parsedFrame{}, t.failed(err)
	}
}

func (t *httpTransport) send(ctx context.Context, payload []byte) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(t.life, stop)()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.sendURL, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	addHeader(req, t.e.header)
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := t.e.hc.Do(req)
	if err != nil {
		return t.failed(hideURLQuery(err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST xhr_send answered %s%s", resp.Status, quoteBody(body))
	}
	return nil
}

// closeWith aborts: HTTP transports have no way to send a close frame, so
// the server sees the receiving request go and closes the session
// (1002 "Connection interrupted"), as with sockjs-client.
func (t *httpTransport) closeWith(int, string) { t.abort() }

func (t *httpTransport) abort() { t.cancel() }

func (t *httpTransport) onAlive(func()) {}

// quoteBody returns the start of an error response's text for an error
// message (servers say why there: "Session not found.", "Payload too
// large."), or "" for an empty one.
func quoteBody(b []byte) string {
	t := strings.TrimSpace(string(b))
	if t == "" {
		return ""
	}
	if len(t) > 80 {
		t = t[:80] + "..."
	}
	return fmt.Sprintf(" (%q)", t)
}
