package sockjs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/sockjs"
)

// An echo service mounted on a chi router, driven here by hand over the
// xhr-polling transport the way sockjs-client would.
func ExampleNewHandler() {
	echo := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return // closed: errors.Is(err, sockjs.ErrClientClosed) and friends tell why
			}
			s.Send(msg)
		}
	})
	r := chi.NewRouter()
	r.Mount("/echo", echo)
	srv := httptest.NewServer(r)
	defer srv.Close()
	// On the way out: close every session and wait for their handlers
	// (before srv.Close, which does not end streaming responses).
	defer echo.Shutdown(context.Background())

	post := func(path, body string) string {
		resp, err := http.Post(srv.URL+"/echo"+path, "text/plain", strings.NewReader(body))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %q", resp.StatusCode, b)
	}
	fmt.Println(post("/0/session1/xhr", ""))
	fmt.Println(post("/0/session1/xhr_send", `["hello","world"]`))
	fmt.Println(post("/0/session1/xhr", ""))
	// Output:
	// 200 "o\n"
	// 204 ""
	// 200 "a[\"hello\",\"world\"]\n"
}

// Broadcast encodes a message once and queues it for every session.
func ExampleHandler_Broadcast() {
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			h.Broadcast(s.ID() + ": " + msg)
		}
	})
	http.Handle("/chat/", http.StripPrefix("/chat", h))
}

// Allowing pages of other origins, and checking why a session ended.
func ExampleOptions() {
	h := sockjs.NewHandler(sockjs.Options{
		AllowedOrigins:        []string{"https://app.example.com"},
		AllowedOriginPatterns: []string{"https://*.example.com"},
		JSessionID:            true, // sticky sessions by cookie
	}, func(ctx context.Context, s *sockjs.Session) {
		_, err := s.Recv(ctx)
		var ce *sockjs.CloseError
		if errors.As(err, &ce) {
			fmt.Println("closed with", ce.Code, ce.Reason)
		}
	})
	_ = h
}
