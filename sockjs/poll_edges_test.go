package sockjs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// slowWriter delays every write that carries messages, as a client that
// reads slowly would.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
}

func (w slowWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`a[`)) {
		time.Sleep(w.delay)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestSlowPollWriteKeepsItsSession: a poll whose write takes longer than
// the disconnect delay must not expire its own session meanwhile; the
// client's next poll finds the session (not a new one, which would answer
// "o"), and the application's session goes on.
func TestSlowPollWriteKeepsItsSession(t *testing.T) {
	t.Parallel()
	const disconnect = time.Second // the client's next poll comes well within it, even on a loaded machine
	sessions := &sessionsByID{}
	ended := make(chan error, 1)
	h := sockjs.NewHandler(sockjs.Options{DisconnectDelay: disconnect}, func(ctx context.Context, s *sockjs.Session) {
		sessions.ch(s.ID()) <- s
		for {
			if _, err := s.Recv(ctx); err != nil {
				ended <- err
				return
			}
		}
	})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(slowWriter{w, 2 * disconnect}, r)
	})
	srv := httptest.NewServer(http.StripPrefix("/x", slow))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	url := peerSessionURL(srv.URL + "/x")
	poll := func() string {
		t.Helper()
		var got string
		if err := xhrPollingRecv(context.Background(), srv.Client(), url, func(f string) error {
			got = f
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if f := poll(); f != "o" {
		t.Fatalf("first poll %q", f)
	}
	s, err := sessions.get(url)
	if err != nil {
		t.Fatal(err)
	}
	s.Send("m1")
	if f := poll(); f != `a["m1"]` { // written over two disconnect delays
		t.Fatalf("second poll %q", f)
	}
	s.Send("m2")
	if f := poll(); f != `a["m2"]` {
		t.Fatalf("poll after the slow write got %q: the session expired during the write", f)
	}
	select {
	case err := <-ended:
		t.Fatalf("the application's session ended: %v", err)
	default:
	}
}

var errAllReceived = errors.New("all messages received")

// TestOneResponseCarriesBoundedMessages: a poll (or a streaming response)
// carries at most about ResponseLimit bytes of queued messages; the rest
// comes with the next responses, in order, none lost.
func TestOneResponseCarriesBoundedMessages(t *testing.T) {
	t.Parallel()
	const (
		limit = 4096
		size  = 1000 // quoted 1002 bytes: four fit in the limit
		count = 10
	)
	tests := []struct {
		name string
		recv recvFunc
	}{
		{"xhr", xhrPollingRecv},
		{"jsonp", jsonpRecv},
		{"xhr_streaming", xhrStreamingRecv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := sockjs.Options{ResponseLimit: limit, AllowJSONP: true, DisconnectDelay: 10 * time.Second}
			srv := appServer(t, o, func(ctx context.Context, s *sockjs.Session) {
				for i := range count {
					s.Send(fmt.Sprintf("%0*d", size, i))
				}
				<-ctx.Done()
			})
			url := peerSessionURL(srv.URL + "/x")
			seq, responses := 0, 0
			for seq < count && responses < 2*count {
				responses++
				err := tt.recv(context.Background(), srv.Client(), url, func(f string) error {
					if f == "o" || f == "h" {
						return nil
					}
					var msgs []string
					if err := strictUnmarshal(strings.TrimPrefix(f, "a"), &msgs); err != nil || !strings.HasPrefix(f, "a") {
						return fmt.Errorf("frame %q: %v", abbrev(f), err)
					}
					if len(msgs) > limit/(size+2) {
						return fmt.Errorf("one frame carries %d messages of %d bytes, past the %d-byte limit", len(msgs), size, limit)
					}
					for _, m := range msgs {
						if want := fmt.Sprintf("%0*d", size, seq); m != want {
							return fmt.Errorf("message %q, want %q", abbrev(m), abbrev(want))
						}
						seq++
					}
					if seq == count {
						return errAllReceived // a stream would wait on for more
					}
					return nil
				})
				if err != nil && !errors.Is(err, errAllReceived) {
					t.Fatal(err)
				}
			}
			if seq != count {
				t.Fatalf("%d of %d messages in %d responses", seq, count, responses)
			}
		})
	}
}
