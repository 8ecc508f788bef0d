package sockjs_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// wireFrame is one WebSocket frame as it crossed the wire.
type wireFrame struct {
	rsv1    bool // compressed (permessage-deflate)
	opcode  byte
	payload []byte
}

// readWireFrame reads one unmasked server frame.
func readWireFrame(br *bufio.Reader) (wireFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return wireFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wireFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wireFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 || n > 1<<20 {
		return wireFrame{}, fmt.Errorf("server frame masked or too long (%d)", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return wireFrame{rsv1: h[0]&0x40 != 0, opcode: h[0] & 0x0f, payload: p}, err
}

// writeClientText writes one masked, uncompressed text frame.
func writeClientText(c net.Conn, text string) error {
	b := []byte{0x81}
	switch n := len(text); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := range len(text) {
		b = append(b, text[i]^mask[i%4])
	}
	_, err := c.Write(b)
	return err
}

// Compression is agreed only when turned on, and then frames below the
// threshold go uncompressed and frames above it compressed, as seen on the
// wire, on both websocket endpoints.
func TestWebSocketCompressionOnTheWire(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("compress me ", 200) // 2400 bytes
	for _, tt := range []struct {
		name       string
		on         bool
		path       string
		send, echo string
	}{
		{"sockjs off", false, "/x/0/" + newSID() + "/websocket", `["` + big + `"]`, `a["` + big + `"]`},
		{"sockjs on", true, "/x/0/" + newSID() + "/websocket", `["` + big + `"]`, `a["` + big + `"]`},
		{"raw off", false, "/x/websocket", big, big},
		{"raw on", true, "/x/websocket", big, big},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := appServer(t, sockjs.Options{RawWebSocket: true, WebSocketCompression: tt.on, WebSocketCompressionThreshold: 1000},
				func(ctx context.Context, s *sockjs.Session) {
					_ = s.Send("hi") // below the threshold
					for {
						msg, err := s.Recv(ctx)
						if err != nil {
							return
						}
						_ = s.Send(msg)
					}
				})
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(scenarioWait))
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
				"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", tt.path, srv.Listener.Addr())
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if resp.StatusCode != http.StatusSwitchingProtocols || strings.Contains(ext, "permessage-deflate") != tt.on {
				t.Fatalf("handshake: %s, Sec-WebSocket-Extensions %q; compression on: %v", resp.Status, ext, tt.on)
			}
			want := []struct {
				text       string
				compressed bool
			}{{"o", false}, {`a["hi"]`, false}}
			if strings.HasPrefix(tt.name, "raw") {
				want = want[1:]
				want[0].text = "hi"
			}
			for _, w := range want {
				f, err := readWireFrame(br)
				if err != nil {
					t.Fatal(err)
				}
				if f.rsv1 != w.compressed || string(f.payload) != w.text {
					t.Fatalf("frame %q compressed %v, want %q compressed %v", f.payload, f.rsv1, w.text, w.compressed)
				}
			}
			if err := writeClientText(c, tt.send); err != nil {
				t.Fatal(err)
			}
			f, err := readWireFrame(br)
			if err != nil {
				t.Fatal(err)
			}
			if f.rsv1 != tt.on {
				t.Fatalf("%d-byte echo compressed %v, want %v", len(tt.echo), f.rsv1, tt.on)
			}
			if tt.on && len(f.payload) >= len(tt.echo)/4 {
				t.Fatalf("compressed echo is %d bytes for %d", len(f.payload), len(tt.echo))
			}
			if !tt.on && string(f.payload) != tt.echo {
				t.Fatalf("echo %.40q..., want %.40q...", f.payload, tt.echo)
			}
		})
	}
}

// The subprotocol is the first of the client's offers the server speaks,
// answered in the handshake and told to the session, on both endpoints.
func TestWebSocketSubprotocols(t *testing.T) {
	t.Parallel()
	srv := appServer(t, sockjs.Options{RawWebSocket: true, WebSocketSubprotocols: []string{"v10.stomp", "v11.stomp", "v12.stomp"}},
		func(ctx context.Context, s *sockjs.Session) {
			_ = s.Send("proto=" + s.Subprotocol())
			<-ctx.Done()
		})
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, tt := range []struct {
		offer []string
		want  string
	}{
		{[]string{"v12.stomp", "v10.stomp"}, "v12.stomp"},
		{[]string{"v10.stomp", "v11.stomp", "v12.stomp"}, "v10.stomp"},
		{[]string{"mqtt", "v11.stomp"}, "v11.stomp"},
		{[]string{"mqtt"}, ""},
		{nil, ""},
	} {
		for _, raw := range []bool{false, true} {
			u := ws + "/x/0/" + newSID() + "/websocket"
			if raw {
				u = ws + "/x/websocket"
			}
			d := websocket.Dialer{HandshakeTimeout: scenarioWait, Subprotocols: tt.offer}
			conn, _, err := d.Dial(u, nil)
			if err != nil {
				t.Fatalf("%v raw=%v: %v", tt.offer, raw, err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(scenarioWait))
			if !raw {
				_, _, _ = conn.ReadMessage() // "o"
			}
			_, msg, err := conn.ReadMessage()
			conn.Close()
			wantMsg := "proto=" + tt.want
			if !raw {
				wantMsg = `a["` + wantMsg + `"]`
			}
			if err != nil || conn.Subprotocol() != tt.want || string(msg) != wantMsg {
				t.Errorf("offer %v raw=%v: handshake chose %q, session says %q (%v); want %q", tt.offer, raw, conn.Subprotocol(), msg, err, tt.want)
			}
		}
	}
}

// countingPool is a write buffer pool that counts what it lends.
type countingPool struct {
	sync.Pool
	gets atomic.Int64
}

func (p *countingPool) Get() any { p.gets.Add(1); return p.Pool.Get() }

// The configured write buffer pool and buffer sizes serve the writes.
func TestWebSocketWriteBufferPool(t *testing.T) {
	t.Parallel()
	pool := &countingPool{}
	srv := appServer(t, sockjs.Options{WebSocketWriteBufferPool: pool, WebSocketReadBufferSize: 512, WebSocketWriteBufferSize: 512},
		func(ctx context.Context, s *sockjs.Session) {
			for {
				msg, err := s.Recv(ctx)
				if err != nil {
					return
				}
				_ = s.Send(msg)
			}
		})
	ctx, cancel := context.WithTimeout(t.Context(), scenarioWait)
	defer cancel()
	p, err := dialSockJSWebSocket(ctx, srv.URL+"/x")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	long := strings.Repeat("b", 3000) // several buffers' worth
	if err := p.Send(long); err != nil {
		t.Fatal(err)
	}
	if ev, err := p.Next(scenarioWait); err != nil || ev.Msg != long {
		t.Fatalf("echo: %v", err)
	}
	if pool.gets.Load() == 0 {
		t.Fatal("the configured write buffer pool lent nothing")
	}
}
