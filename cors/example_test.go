package cors_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sockline/sockline/cors"
)

// A policy for a SockJS endpoint used by the application's own pages and by
// a front end on any subdomain of example.com. The same policy answers
// preflights, guards ordinary requests and, as Upgrader.CheckOrigin, the
// WebSocket handshake.
func Example() {
	p, err := cors.New(cors.Config{
		AllowedOrigins:        []string{"https://app.example.com"},
		AllowedOriginPatterns: []string{"https://*.example.com"},
	})
	if err != nil {
		panic(err)
	}
	endpoint := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			p.Preflight(w, r, "OPTIONS, POST")
			return
		}
		if !p.Apply(w, r) {
			return // 403 written
		}
		fmt.Fprintln(w, "ok")
	})
	// With gorilla/websocket:
	//	upgrader := websocket.Upgrader{CheckOrigin: p.CheckWebSocketOrigin}

	for _, origin := range []string{"https://chat.example.com", "https://example.com.evil.com", "null", ""} {
		r := httptest.NewRequest(http.MethodPost, "https://sock.example.net/echo/000/abc/xhr", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		endpoint.ServeHTTP(w, r)
		fmt.Printf("%q: %d allow-origin=%q credentials=%q\n", origin, w.Code,
			w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Access-Control-Allow-Credentials"))
	}
	fmt.Println("frame-ancestors", p.FrameAncestors())

	// Output:
	// "https://chat.example.com": 200 allow-origin="https://chat.example.com" credentials="true"
	// "https://example.com.evil.com": 403 allow-origin="" credentials=""
	// "null": 403 allow-origin="" credentials=""
	// "": 200 allow-origin="*" credentials=""
	// frame-ancestors 'self' https://app.example.com https://*.example.com
}

// Configuration mistakes are reported by New, all at once.
func ExampleNew_invalid() {
	_, err := cors.New(cors.Config{AllowedOrigins: []string{"https://app.example.com/", "*"}})
	fmt.Println(errors.Is(err, cors.ErrInvalidOrigin))
	fmt.Println(err)
	// Output:
	// true
	// cors: invalid origin "https://app.example.com/" in AllowedOrigins: path not allowed (an origin has no trailing slash); want scheme://host[:port] with scheme http or https, e.g. https://app.example.com
	// cors: invalid origin "*" in AllowedOrigins: to allow every origin set AllowAnyOrigin instead
}
