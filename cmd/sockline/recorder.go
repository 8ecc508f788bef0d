package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// recorder is the http.RoundTripper of probe's HTTP client: it passes
// every request on and notes what became of it (status, when its body
// ended and how, whether it set a JSESSIONID cookie), so that probe can
// tell when a quiet stream was cut and what the client's requests were
// answered; with -v it prints a line for each.
type recorder struct {
	next  http.RoundTripper
	log   io.Writer // nil: quiet
	start time.Time

	mu     sync.Mutex
	events []*event
}

// event is one request seen by the recorder.
type event struct {
	method, url string
	receiving   bool // xhr_streaming, eventsource or xhr: it stays open
	streaming   bool // xhr_streaming or eventsource

	start, headers time.Time
	active         time.Time // when its connection was last active before it: start, or earlier for a reused idle one
	status         int
	body           string // the start of an error answer's body
	sessionCookie  bool   // the answer set JSESSIONID

	// Set by the body wrapper (or by a failed round trip), under the
	// recorder's mutex.
	ended  bool
	end    time.Time
	endErr error // nil: clean end of the body
	closed bool  // the reader closed the body before its end, or cancelled the request
}

func newRecorder(next http.RoundTripper, log io.Writer) *recorder {
	return &recorder{next: next, log: log, start: time.Now()}
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	path := req.URL.Path
	ev := &event{method: req.Method, url: hideQuery(req.URL.String()), start: time.Now()}
	ev.streaming = strings.HasSuffix(path, "/xhr_streaming") || strings.HasSuffix(path, "/eventsource")
	ev.receiving = ev.streaming || strings.HasSuffix(path, "/xhr")
	ev.active = ev.start
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()

	// A reused connection was last active before the request started.
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if info.WasIdle {
			r.mu.Lock()
			ev.active = time.Now().Add(-info.IdleTime)
			r.mu.Unlock()
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := r.next.RoundTrip(req)
	now := time.Now()
	if err != nil {
		canceled := req.Context().Err() != nil // by its sender, not the path
		r.mu.Lock()
		ev.ended, ev.end, ev.endErr, ev.closed = true, now, err, canceled
		r.mu.Unlock()
		if canceled {
			r.printf("%s %s -> cancelled (%s)", ev.method, ev.url, ms(now.Sub(ev.start)))
		} else {
			r.printf("%s %s -> error: %v (%s)", ev.method, ev.url, err, ms(now.Sub(ev.start)))
		}
		return nil, err
	}
	ev.headers, ev.status = now, resp.StatusCode
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			ev.sessionCookie = true
		}
	}
	if resp.StatusCode >= 400 {
		// Keep the start of an error's body, for the diagnosis.
		head := make([]byte, 512)
		n, _ := io.ReadFull(resp.Body, head)
		ev.body = string(head[:n])
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head[:n]), resp.Body), resp.Body}
	}
	r.printf("%s %s -> %s (%s)", ev.method, ev.url, resp.Status, ms(now.Sub(ev.start)))
	if resp.StatusCode != http.StatusSwitchingProtocols { // a 101's body is the connection
		resp.Body = &recordedBody{ReadCloser: resp.Body, r: r, ev: ev, ctx: req.Context()}
	}
	return resp, nil
}

// printf prints a -v line, with the time since the probe started.
func (r *recorder) printf(format string, args ...any) {
	if r.log == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, "[%7.3fs] %s\n", time.Since(r.start).Seconds(), line)
}

// mark is where the events of what comes next start.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// since returns copies of the events from mark on.
func (r *recorder) since(mark int) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]event, 0, len(r.events)-mark)
	for _, ev := range r.events[mark:] {
		out = append(out, *ev)
	}
	return out
}

// cut returns the first receiving request, of those from mark on, that the
// path ended between from and to while probe was quiet: an error (a cut
// connection, not a cancellation by the client), a 5xx answer (a proxy's 504),
// or a stream that ended cleanly (the server ends a stream only at its
// size limit, far off for a quiet stream). quiet is how long the
// connection had been quiet: from the later of from and its last activity
// before the request (the request's start on a new connection).
func (r *recorder) cut(mark int, from, to time.Time) (quiet time.Duration, ev event, ok bool) {
	var first time.Time
	for _, e := range r.since(mark) {
		if !e.receiving {
			continue
		}
		end, abnormal := e.end, false
		switch {
		case e.status >= 500:
			end, abnormal = e.headers, true
		case !e.ended || e.closed:
		case e.endErr != nil:
			abnormal = true
		default:
			abnormal = e.streaming
		}
		if !abnormal || end.Before(from) || end.After(to) || ok && !end.Before(first) {
			continue
		}
		began := from
		if e.active.After(began) {
			began = e.active
		}
		quiet, ev, ok, first = end.Sub(began), e, true, end
	}
	return quiet, ev, ok
}

// recordedBody notes when and how a response's body ended.
type recordedBody struct {
	io.ReadCloser
	r   *recorder
	ev  *event
	ctx context.Context // the request's: done when its sender cancelled it
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.r.mu.Lock()
		first := !b.ev.ended
		if first {
			b.ev.ended, b.ev.end = true, time.Now()
			if err != io.EOF {
				b.ev.endErr = err
				b.ev.closed = b.ctx.Err() != nil
			}
		}
		ev := *b.ev
		b.r.mu.Unlock()
		if first && ev.receiving && !ev.closed && (ev.endErr != nil || ev.streaming) {
			how := "ended"
			if ev.endErr != nil {
				how = "cut (" + ev.endErr.Error() + ")"
			}
			b.r.printf("%s %s: body %s after %ss", ev.method, ev.url, how, seconds(ev.end.Sub(ev.start)))
		}
	}
	return n, err
}

func (b *recordedBody) Close() error {
	b.r.mu.Lock()
	if !b.ev.ended {
		b.ev.ended, b.ev.end, b.ev.closed = true, time.Now(), true
	}
	b.r.mu.Unlock()
	return b.ReadCloser.Close()
}

// hideQuery elides a URL's query, which may hold a token, as the client's
// errors do.
func hideQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}
