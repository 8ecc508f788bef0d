package sockjs_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// Session limits behind a reverse proxy: at most two sessions per client,
// the client being read from X-Forwarded-For only when the request comes
// from the proxy (here, loopback).
func ExampleOptions_sessionLimits() {
	h := sockjs.NewHandler(sockjs.Options{
		MaxSessions:          50000,
		MaxSessionsPerClient: 2,
		TrustedProxies:       []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		SendTimeout:          10 * time.Second,
	}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	for _, sid := range []string{"a", "b", "c"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/0/"+sid+"/xhr", strings.NewReader(""))
		req.Header.Set("X-Forwarded-For", "203.0.113.5") // written by the proxy
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			fmt.Println(sid, resp.StatusCode, "Retry-After:", ra)
		} else {
			fmt.Println(sid, resp.StatusCode)
		}
	}
	// Output:
	// a 200
	// b 200
	// c 503 Retry-After: 5
}
