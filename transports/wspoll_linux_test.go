package transports

import (
	"bufio"
	"bytes"
	"context"
	"testing"
)

func TestSkipPongConsumesOnlyAWholeMaskedPong(t *testing.T) {
	pong := []byte{0x8a, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}
	for _, tc := range []struct {
		name     string
		buffered []byte
		skipped  bool
		left     int
	}{
		{"whole pong", pong, true, 0},
		{"pong then a text frame", append(append([]byte{}, pong...), 0x81, 0x80), true, 2},
		{"pong cut short", pong[:5], false, 5},
		{"unmasked pong", []byte{0x8a, 0x00}, false, 2},
		{"ping", []byte{0x89, 0x80, 0, 0, 0, 0}, false, 6},
		{"text frame", []byte{0x81, 0x81, 0, 0, 0, 0, 'x'}, false, 7},
		{"one byte", []byte{0x8a}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // closing: extendReadDeadline leaves the connection alone
			br := bufio.NewReaderSize(bytes.NewReader(tc.buffered), 512)
			if _, err := br.Peek(len(tc.buffered)); err != nil {
				t.Fatal(err)
			}
			wc := &wsConn{ctx: ctx, br: br}
			if got := wc.skipPong(); got != tc.skipped {
				t.Fatalf("skipPong = %v, want %v", got, tc.skipped)
			}
			if got := br.Buffered(); got != tc.left {
				t.Fatalf("%d bytes left buffered, want %d", got, tc.left)
			}
		})
	}
}

func TestLentReadBufferComesBackEmptyAndWorking(t *testing.T) {
	server, client := tcpPair(t)
	wc := &wsConn{c: &Config{}, br: bufio.NewReaderSize(server, DefaultWebSocketReadBufferSize)}
	wc.lendReadBuffer()
	if wc.br.Size() != 0 {
		t.Fatalf("a lent reader still holds %d bytes of buffer", wc.br.Size())
	}
	if _, err := client.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	wc.borrowReadBufferFrom(server)
	if wc.br.Size() != DefaultWebSocketReadBufferSize {
		t.Fatalf("borrowed buffer of %d bytes, want %d", wc.br.Size(), DefaultWebSocketReadBufferSize)
	}
	p, err := wc.br.Peek(3)
	if err != nil || string(p) != "abc" {
		t.Fatalf("Peek after borrowing = %q, %v: want what the peer wrote", p, err)
	}
}
