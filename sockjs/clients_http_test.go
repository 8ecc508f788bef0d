package sockjs_test

// The HTTP transports' test clients (see clients_test.go): one receiving
// loop per transport, streaming or polling, and a sender, xhr_send or
// jsonp_send.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// recvFunc runs one receiving request at url and calls frame for each frame
// in it, in order. It returns nil when the response ended cleanly.
type recvFunc func(ctx context.Context, c *http.Client, url string, frame func(string) error) error

// sendFunc posts msgs to the session at url.
type sendFunc func(ctx context.Context, c *http.Client, url string, n int64, msgs []string) error

type httpPeer struct {
	*peerEvents
	ctx    context.Context
	cancel context.CancelFunc
	client *http.Client
	url    string
	send   sendFunc
	sends  atomic.Int64
	wg     sync.WaitGroup
	once   sync.Once
}

var peerHTTPClient = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

func httpPeerDialer(recv recvFunc, send sendFunc) func(context.Context, string) (peer, error) {
	return func(ctx context.Context, base string) (peer, error) {
		p := &httpPeer{peerEvents: newPeerEvents(), client: peerHTTPClient, url: peerSessionURL(base), send: send}
		// ctx bounds the opening only; the session lives until Close.
		p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
		p.wg.Add(1)
		go p.receive(recv)
		if err := p.waitOpen(10 * time.Second); err != nil {
			p.Close()
			return nil, err
		}
		return p, nil
	}
}

// receive runs receiving requests one after the other, as long as the
// session is open; a streaming response that ends (the response limit)
// is followed by a new one, a closed session by one more request that must
// repeat the close frame.
func (p *httpPeer) receive(recv recvFunc) {
	defer p.wg.Done()
	defer close(p.finished)
	fr := peerFramer{onOpen: p.open}
	var closeFrame string
	for {
		err := recv(p.ctx, p.client, p.url, func(data string) error {
			if fr.closed {
				if data != closeFrame {
					return fmt.Errorf("after the close %q, got %q; want the close frame again", closeFrame, abbrev(data))
				}
				closeFrame = "" // seen it repeated: done
				return nil
			}
			evs, err := fr.frame(data)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if ev.Closed {
					closeFrame = data
				}
				if !p.push(ev) {
					return context.Canceled
				}
			}
			return nil
		})
		switch {
		case p.ctx.Err() != nil:
			return
		case err != nil:
			p.fail(err)
			return
		case fr.closed && closeFrame == "":
			return // the close frame came, and came again on the next request
		}
	}
}

func (p *httpPeer) Send(msgs ...string) error {
	return p.send(p.ctx, p.client, p.url, p.sends.Add(1), msgs)
}

func (p *httpPeer) Close() {
	p.once.Do(func() {
		p.cancel()
		close(p.done)
		p.wg.Wait()
	})
}

// peerPost sends one request and checks its answer.
func peerPost(ctx context.Context, c *http.Client, url, contentType string, body []byte, status int, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != status || string(got) != want {
		return fmt.Errorf("POST %s: %d %q; want %d %q", url, resp.StatusCode, abbrev(string(got)), status, want)
	}
	return nil
}

func xhrSend(ctx context.Context, c *http.Client, url string, _ int64, msgs []string) error {
	body, _ := json.Marshal(msgs)
	return peerPost(ctx, c, url+"/xhr_send", "text/plain;charset=UTF-8", body, http.StatusNoContent, "")
}

// jsonpSend posts as sockjs-client's form does (field d), and every other
// time as a raw body, which the protocol also accepts.
func jsonpSend(ctx context.Context, c *http.Client, u string, n int64, msgs []string) error {
	payload, _ := json.Marshal(msgs)
	if n%2 == 0 {
		return peerPost(ctx, c, u+"/jsonp_send", "text/plain", payload, http.StatusOK, "ok")
	}
	body := "d=" + url.QueryEscape(string(payload))
	return peerPost(ctx, c, u+"/jsonp_send", "application/x-www-form-urlencoded", []byte(body), http.StatusOK, "ok")
}

// openResponse starts a receiving request and checks its status and type.
func openResponse(ctx context.Context, c *http.Client, method, url, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %d %q (%q)", method, url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return resp, nil
}

// streamFrames reads a streaming response: prelude, then frames split by
// next, until the body ends (which must be right after a close frame or at
// a frame boundary).
func streamFrames(resp *http.Response, prelude func(*bufio.Reader) error, next func(*bufio.Reader) (string, error), frame func(string) error) error {
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	if err := prelude(br); err != nil {
		return fmt.Errorf("prelude: %w", err)
	}
	for {
		data, err := next(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := frame(data); err != nil {
			return err
		}
		if strings.HasPrefix(data, "c[") {
			// The response must end right after a close frame.
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				return fmt.Errorf("the response goes on after the close frame %q (%v)", data, err)
			}
			return nil
		}
	}
}

// peerReadLine reads up to and including '\n'; a clean EOF before any byte is
// io.EOF, a partial line is an error.
func peerReadLine(br *bufio.Reader) (string, error) {
	s, err := br.ReadString('\n')
	if errors.Is(err, io.EOF) && s != "" {
		return "", fmt.Errorf("response ended inside %q", abbrev(s))
	}
	return s, err
}

func xhrStreamingRecv(ctx context.Context, c *http.Client, url string, frame func(string) error) error {
	resp, err := openResponse(ctx, c, http.MethodPost, url+"/xhr_streaming", "application/javascript; charset=UTF-8")
	if err != nil {
		return err
	}
	return streamFrames(resp, func(br *bufio.Reader) error {
		if l, err := peerReadLine(br); err != nil || l != strings.Repeat("h", 2048)+"\n" {
			return fmt.Errorf("%q, %v", abbrev(l), err)
		}
		return nil
	}, func(br *bufio.Reader) (string, error) {
		l, err := peerReadLine(br)
		return strings.TrimSuffix(l, "\n"), err
	}, frame)
}

func xhrPollingRecv(ctx context.Context, c *http.Client, url string, frame func(string) error) error {
	body, err := pollBody(ctx, c, http.MethodPost, url+"/xhr", "application/javascript; charset=UTF-8")
	if err != nil {
		return err
	}
	f, ok := strings.CutSuffix(body, "\n")
	if !ok || strings.Contains(f, "\n") {
		return fmt.Errorf("xhr body %q is not one frame and a newline", abbrev(body))
	}
	return frame(f)
}

func pollBody(ctx context.Context, c *http.Client, method, url, contentType string) (string, error) {
	resp, err := openResponse(ctx, c, method, url, contentType)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func eventSourceRecv(ctx context.Context, c *http.Client, url string, frame func(string) error) error {
	resp, err := openResponse(ctx, c, http.MethodGet, url+"/eventsource", "text/event-stream; charset=UTF-8")
	if err != nil {
		return err
	}
	return streamFrames(resp, func(br *bufio.Reader) error {
		if l, err := peerReadLine(br); err != nil || l != "\r\n" {
			return fmt.Errorf("%q, %v", l, err)
		}
		return nil
	}, func(br *bufio.Reader) (string, error) {
		l, err := peerReadLine(br)
		if err != nil {
			return "", err
		}
		data, ok := strings.CutPrefix(l, "data: ")
		data, ok2 := strings.CutSuffix(data, "\r\n")
		if blank, err := peerReadLine(br); !ok || !ok2 || err != nil || blank != "\r\n" {
			return "", fmt.Errorf("event-stream record %q %q is not data: <frame>\\r\\n\\r\\n (%v)", abbrev(l), blank, err)
		}
		return decodeURI(data) // as sockjs-client does with every record
	}, frame)
}

// peerCallback is the callback name the htmlfile and jsonp clients use,
// of the form sockjs-client uses.
const peerCallback = "_jp.a1b2c3"

// htmlfileRecv reads an htmlfile stream: the page head padded past 1 KiB,
// then "<script>\np(" + JS string + ");\n</script>\r\n" per frame.
func htmlfileRecv(ctx context.Context, c *http.Client, url string, frame func(string) error) error {
	resp, err := openResponse(ctx, c, http.MethodGet, url+"/htmlfile?c="+peerCallback, "text/html; charset=UTF-8")
	if err != nil {
		return err
	}
	return streamFrames(resp, func(br *bufio.Reader) error {
		var page strings.Builder
		for {
			l, err := peerReadLine(br)
			if err != nil {
				return err
			}
			page.WriteString(l)
			if l == "\r\n" {
				break
			}
		}
		p := page.String()
		if len(p) <= 1024 || !strings.HasPrefix(p, "<!doctype html>") || !strings.Contains(p, "var c = parent."+peerCallback+";") {
			return fmt.Errorf("page head %q", abbrev(p))
		}
		return nil
	}, func(br *bufio.Reader) (string, error) {
		var chunk strings.Builder
		for !strings.HasSuffix(chunk.String(), "</script>\r\n") {
			l, err := peerReadLine(br)
			if err != nil {
				if chunk.Len() > 0 && errors.Is(err, io.EOF) {
					err = fmt.Errorf("response ended inside %q", abbrev(chunk.String()))
				}
				return "", err
			}
			chunk.WriteString(l)
		}
		s := chunk.String()
		js, ok := strings.CutPrefix(s, "<script>\np(")
		js, ok2 := strings.CutSuffix(js, ");\n</script>\r\n")
		if !ok || !ok2 {
			return "", fmt.Errorf("htmlfile chunk %q is not a <script> p(...) block", abbrev(s))
		}
		return jsString(js)
	}, frame)
}

func jsonpRecv(ctx context.Context, c *http.Client, url string, frame func(string) error) error {
	body, err := pollBody(ctx, c, http.MethodGet, url+"/jsonp?c="+peerCallback, "application/javascript; charset=UTF-8")
	if err != nil {
		return err
	}
	js, ok := strings.CutPrefix(body, "/**/"+peerCallback+"(")
	js, ok2 := strings.CutSuffix(js, ");\r\n")
	if !ok || !ok2 {
		return fmt.Errorf("jsonp body %q is not /**/callback(...);\\r\\n", abbrev(body))
	}
	f, err := jsString(js)
	if err != nil {
		return err
	}
	return frame(f)
}

// jsString decodes the JavaScript string literal of an htmlfile or jsonp
// envelope, after checking it holds nothing a browser's HTML parser or
// content sniffer could act on: no '<', '>' or '&' at all, so no
// "</script", "<script" or "<!--" (the envelope's own tags are outside
// it), and no raw line terminator.
func jsString(js string) (string, error) {
	if i := strings.IndexAny(js, "<>&\n\r\u2028\u2029"); i >= 0 {
		return "", fmt.Errorf("JS string holds %q raw: %q", js[i], abbrev(js))
	}
	var s string
	if err := strictUnmarshal(js, &s); err != nil {
		return "", fmt.Errorf("JS string %q: %v", abbrev(js), err)
	}
	return s, nil
}

// decodeURI is JavaScript's decodeURI, which sockjs-client applies to every
// eventsource record: %XX escapes are decoded (UTF-8 sequences of them
// into one character), except those of the characters ;/?:@&=+$,# which
// stay escaped; a malformed escape is an error (a URIError in a browser).
func decodeURI(s string) (string, error) {
	const reserved = ";/?:@&=+$,#"
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '%' {
			b.WriteByte(s[i])
			i++
			continue
		}
		var seq []byte
		j := i
		for j+2 < len(s) && s[j] == '%' {
			v, err := strconv.ParseUint(s[j+1:j+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("decodeURI: malformed escape at %d in %q", j, abbrev(s))
			}
			seq = append(seq, byte(v))
			j += 3
			if utf8.FullRune(seq) {
				break
			}
		}
		r, size := utf8.DecodeRune(seq)
		if len(seq) == 0 || (r == utf8.RuneError && size <= 1) || size != len(seq) {
			return "", fmt.Errorf("decodeURI: malformed escape at %d in %q", i, abbrev(s))
		}
		if r < utf8.RuneSelf && strings.ContainsRune(reserved, r) {
			b.WriteString(s[i:j])
		} else {
			b.WriteRune(r)
		}
		i = j
	}
	return b.String(), nil
}
