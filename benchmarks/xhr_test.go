package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// xhrClient is one xhr_streaming session: a streaming response being read
// and a keep-alive client for xhr_send.
type xhrClient struct {
	ctx      context.Context
	cancel   context.CancelFunc
	watchdog *time.Timer // cancels ctx when one operation takes over timeout
	tr       *http.Transport
	client   *http.Client
	stream   *http.Response
	lines    *bufio.Reader
	sendURL  string
	body     *bytes.Reader
}

// openXHRStreaming opens POST .../xhr_streaming and reads the 2 KiB prelude
// and the open frame.
func openXHRStreaming(base string) (*xhrClient, error) {
	tr := &http.Transport{MaxIdleConns: 16, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
	c := &xhrClient{tr: tr, client: &http.Client{Transport: tr}, body: bytes.NewReader(nil)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.watchdog = time.AfterFunc(timeout, c.cancel)
	streamURL := sessionURL(base, "xhr_streaming")
	c.sendURL = strings.TrimSuffix(streamURL, "xhr_streaming") + "xhr_send"
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, streamURL, nil)
	if err != nil {
		c.close()
		return nil, err
	}
	c.stream, err = c.client.Do(req)
	if err != nil {
		c.close()
		return nil, err
	}
	if c.stream.StatusCode != http.StatusOK {
		c.close()
		return nil, fmt.Errorf("xhr_streaming: %s", c.stream.Status)
	}
	c.lines = bufio.NewReaderSize(c.stream.Body, 8<<10)
	prelude, err := c.lines.ReadSlice('\n')
	if err == nil && (len(prelude) != 2049 || strings.Trim(string(prelude), "h\n") != "") {
		err = fmt.Errorf("xhr_streaming: bad prelude of %d bytes", len(prelude))
	}
	if err == nil {
		var f []byte
		if f, err = c.readFrame(); err == nil && string(f) != "o" {
			err = fmt.Errorf("xhr_streaming: first frame %q, want o", f)
		}
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// readFrame returns the next frame of the stream without its newline. It
// is valid until the next read.
func (c *xhrClient) readFrame() ([]byte, error) {
	line, err := c.lines.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// readMessages skips heartbeats until a frame with messages comes.
func (c *xhrClient) readMessages() ([]byte, error) {
	for {
		f, err := c.readFrame()
		if err != nil || string(f) != "h" {
			return f, err
		}
	}
}

// send POSTs body to xhr_send and expects 204.
func (c *xhrClient) send(body []byte) error {
	c.body.Reset(body)
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.sendURL, c.body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("xhr_send: %s", resp.Status)
	}
	return nil
}

// echo sends msg (a JSON array) and reads the next messages frame.
func (c *xhrClient) echo(msg []byte) ([]byte, error) {
	c.watchdog.Reset(timeout)
	if err := c.send(msg); err != nil {
		return nil, err
	}
	return c.readMessages()
}

func (c *xhrClient) close() {
	c.watchdog.Stop()
	c.cancel()
	if c.stream != nil {
		c.stream.Body.Close()
	}
	c.tr.CloseIdleConnections()
}

// BenchmarkXHRStreamingEcho measures one round trip over xhr_streaming: a
// keep-alive POST of ["msg"] to xhr_send, then a["msg"] read from the open
// streaming response.
func BenchmarkXHRStreamingEcho(b *testing.B) {
	eachImpl(b, func(b *testing.B, im impl) {
		srv := im.start(b)
		defer srv.close()
		c, err := openXHRStreaming(srv.base)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		out, want := []byte(`["msg"]`), []byte(`a["msg"]`)
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			f, err := c.echo(out)
			if err != nil {
				b.Fatal(err)
			}
			if !bytes.Equal(f, want) {
				b.Fatalf("got %q, want %q", f, want)
			}
		}
		cpu.report(b)
	})
}
