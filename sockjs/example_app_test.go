package sockjs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// examplePost sends a POST to url and returns "status body".
func examplePost(url, body string) string {
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %q", resp.StatusCode, b)
}

type exampleUserKey struct{}

// Authorize checks a token before any session exists, on every transport;
// what it returns is the session's context. A refused client gets 401 and
// no session.
func ExampleOptions_authorize() {
	h := sockjs.NewHandler(sockjs.Options{
		Authorize: func(r *http.Request) (context.Context, error) {
			// sockjs-client cannot set headers: tokens travel in the query
			// string (new SockJS(url + "?token=...")) or in cookies.
			user, ok := map[string]string{"s3cret": "alice"}[r.URL.Query().Get("token")]
			if !ok {
				return nil, fmt.Errorf("bad token: %w", sockjs.ErrUnauthorized)
			}
			return context.WithValue(r.Context(), exampleUserKey{}, user), nil
		},
	}, func(ctx context.Context, s *sockjs.Session) {
		_ = s.Send("hello " + ctx.Value(exampleUserKey{}).(string))
		<-ctx.Done()
	})
	srv := httptest.NewServer(http.StripPrefix("/echo", h))
	defer srv.Close()
	defer h.Shutdown(context.Background())

	fmt.Println(examplePost(srv.URL+"/echo/0/a/xhr?token=guess", ""))
	fmt.Println(examplePost(srv.URL+"/echo/0/b/xhr?token=s3cret", ""))
	fmt.Println(examplePost(srv.URL+"/echo/0/b/xhr", "")) // later requests are not authorized again
	// Output:
	// 401 "Unauthorized."
	// 200 "o\n"
	// 200 "a[\"hello alice\"]\n"
}

// Session.Request is the request that created the session, as it was: its
// query, headers, cookies and remote address, and the values an
// authentication middleware put in its context, which the session's context
// carries.
func ExampleSession_Request() {
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		r := s.Request()
		_ = s.Send(fmt.Sprintf("room=%s user=%v transport=%s",
			r.URL.Query().Get("room"), ctx.Value(exampleUserKey{}), s.Transport()))
		<-ctx.Done()
	})
	// An authentication middleware stand-in.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exampleUserKey{}, "bob")))
		})
	}
	srv := httptest.NewServer(auth(http.StripPrefix("/chat", h)))
	defer srv.Close()
	defer h.Shutdown(context.Background())

	fmt.Println(examplePost(srv.URL+"/chat/0/s/xhr?room=lobby", ""))
	fmt.Println(examplePost(srv.URL+"/chat/0/s/xhr", ""))
	// Output:
	// 200 "o\n"
	// 200 "a[\"room=lobby user=bob transport=xhr\"]\n"
}

// statsEvents counts sessions by embedding NopEvents and implementing only
// what it needs; see package metrics/prometheus for a full adapter.
type statsEvents struct {
	sockjs.NopEvents
	opened chan string
}

func (e statsEvents) SessionOpened(transport string) { e.opened <- transport }

// Events receives what happens in the handler, for metrics.
func ExampleEvents() {
	ev := statsEvents{opened: make(chan string, 1)}
	h := sockjs.NewHandler(sockjs.Options{Events: ev}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	examplePost(srv.URL+"/0/s/xhr", "")
	fmt.Println("opened over", <-ev.opened)
	// Output:
	// opened over xhr
}

type nickKey struct{}

// Handler.Range walks the open sessions, with the values stored on them
// by Set; SendJSON and RecvJSON carry Go values as JSON messages.
func ExampleHandler_Range() {
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		var hello struct{ Nick string }
		if err := s.RecvJSON(ctx, &hello); err != nil {
			_ = s.Close(4001, "expected {\"Nick\": ...}")
			return
		}
		s.Set(nickKey{}, hello.Nick)
		var nicks []string
		h.Range(func(o *sockjs.Session) bool {
			if n, ok := o.Get(nickKey{}).(string); ok {
				nicks = append(nicks, n)
			}
			return true
		})
		_ = s.SendJSON(map[string]any{"online": nicks})
		<-ctx.Done()
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	examplePost(srv.URL+"/0/s/xhr", "")
	examplePost(srv.URL+"/0/s/xhr_send", `["{\"Nick\":\"carol\"}"]`)
	fmt.Println(examplePost(srv.URL+"/0/s/xhr", ""))
	// Output:
	// 200 "a[\"{\\\"online\\\":[\\\"carol\\\"]}\"]\n"
}

// Websocket options: permessage-deflate for large messages, and STOMP's
// subprotocols, the chosen one told to the session.
func ExampleOptions_websocket() {
	h := sockjs.NewHandler(sockjs.Options{
		RawWebSocket:                  true,
		WebSocketCompression:          true,
		WebSocketCompressionThreshold: 1024, // smaller frames go as they are
		WebSocketSubprotocols:         []string{"v12.stomp", "v11.stomp", "v10.stomp"},
	}, func(ctx context.Context, s *sockjs.Session) {
		_ = s.Send("speaking " + s.Subprotocol())
		<-ctx.Done()
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	d := websocket.Dialer{Subprotocols: []string{"v11.stomp", "v10.stomp"}, EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/websocket", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_, msg, _ := conn.ReadMessage()
	fmt.Println(resp.Header.Get("Sec-WebSocket-Protocol"), strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate"))
	fmt.Println(string(msg))
	// Output:
	// v11.stomp true
	// speaking v11.stomp
}

// Close codes: the application uses 4000-4999; errors.As finds the code
// a session ended with.
func ExampleCloseError() {
	reported := make(chan string, 1)
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		_ = s.Close(4003, "Banned")
		var ce *sockjs.CloseError
		if errors.As(s.Err(), &ce) && errors.Is(ce, sockjs.ErrServerClosed) {
			reported <- fmt.Sprint(ce.Code, " ", ce.Reason)
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	fmt.Println(examplePost(srv.URL+"/0/s/xhr", "")) // the open frame comes first
	fmt.Println(<-reported)                          // the handler's view
	fmt.Println(examplePost(srv.URL+"/0/s/xhr", ""))
	// Output:
	// 200 "o\n"
	// 4003 Banned
	// 200 "c[4003,\"Banned\"]\n"
}

// A readiness probe beside the handler: a load balancer sends no new
// clients to a cluster node that has not registered yet, or that shuts
// down.
func ExampleHandler_Ready() {
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", h))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if !h.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	probe := func() int {
		resp, err := http.Get(srv.URL + "/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println(probe())
	_ = h.Shutdown(context.Background())
	fmt.Println(probe())
	// Output:
	// 200
	// 503
}
