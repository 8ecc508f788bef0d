package stomp

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// FuzzServer feeds arbitrary input, cut into arbitrary messages, to a
// connected session: the server must not panic or hang, must end the
// connection when the input is bad, and everything it sends must be
// well-formed STOMP.
func FuzzServer(f *testing.F) {
	for _, s := range []string{
		"SUBSCRIBE\nid:1\ndestination:/topic/a\nack:client\n\n\x00SEND\ndestination:/topic/a\n\nx\x00ACK\nid:2\n\n\x00",
		"SUBSCRIBE\nid:q\ndestination:/queue/a\nack:client-individual\n\n\x00SEND\ndestination:/queue/a\n\n1\x00NACK\nid:2\n\n\x00UNSUBSCRIBE\nid:q\n\n\x00",
		"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/queue/b\ntransaction:t\n\nx\x00COMMIT\ntransaction:t\nreceipt:r\n\n\x00",
		"SUBSCRIBE\nid:e\ndestination:/user/queue/echo\n\n\x00SEND\ndestination:/app/echo\ncontent-length:3\n\na\x00b\x00DISCONNECT\nreceipt:z\n\n\x00",
		"SEND\ndestination:/user/f/queue/x\nx-h:a\\cb\n\nq\x00\n\n",
		"SEND\n\n\x00",
		"CONNECT\n\n\x00",
		// found by this target: a queue offering a message to a consumer whose transport had closed, forever
		"SUBSCRIBE\nid:q\ndestination:/queue/a\nack:client-individual\n\n\x00SEND\ndestination:/queue/a\n\n1\x00NACK\nid:2\n\n\x00UNSUBSCRIBE\nid:q\n\n\x00SUBSCRIBE\nid:e\ndestination:/user/queue/echo\n\n\x00SEND\ndestinatio\xf9:/app/echo\ncontent-length:\x01\n\na\x00b\x00DISCONNECT\nreceipt:z\n\n\x00",
	} {
		f.Add([]byte(s), uint(5))
	}
	srv := NewServer(Config{Authenticate: LoginAuthenticator, MaxFrameBytes: 4096, MaxHeaders: 16, Logger: slog.New(slog.DiscardHandler)})
	srv.Handle("/app/echo", func(ctx context.Context, m *AppMessage) error {
		return m.Reply("/user/queue/echo", m.Header, m.Body)
	})
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		p := newPipe(1 << 14)
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.serve(context.Background(), p, &ConnectRequest{})
		}()
		pieces := []string{"CONNECT\naccept-version:1.2\nlogin:f\n\n\x00"}
		size := int(cut%50) + 1
		for b := data; len(b) > 0; {
			n := min(size, len(b))
			pieces = append(pieces, string(b[:n]))
			b = b[n:]
		}
	feed:
		for _, piece := range pieces {
			select {
			case p.in <- piece:
			case <-p.closed:
				break feed
			}
		}
		p.Close(1000, "fuzz over")
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not end")
		}
		var d Decoder
		d.MaxFrameBytes = 1 << 24
		for {
			select {
			case m := <-p.out:
				d.Feed([]byte(m))
				for {
					fr, err := d.Next()
					if err != nil {
						t.Fatalf("the server sent a malformed frame: %v", err)
					}
					if fr == nil {
						break
					}
				}
				continue
			default:
			}
			break
		}
	})
}
