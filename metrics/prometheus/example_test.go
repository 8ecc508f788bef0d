package prometheus_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
	"github.com/sockline/sockline/sockjs"
)

// A SockJS echo service with its metrics served at /metrics.
func Example() {
	reg := prometheus.NewRegistry()
	metrics := sockjsprom.MustNew(reg, sockjsprom.Options{})
	echo := sockjs.NewHandler(sockjs.Options{Events: metrics}, func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			_ = s.Send(msg)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", echo))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux) // in production: http.ListenAndServe(":8080", mux)
	defer srv.Close()
	defer echo.Shutdown(context.Background())

	// One session over xhr polling, as sockjs-client would open it.
	resp, err := http.Post(srv.URL+"/echo/0/s1/xhr", "text/plain", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, `sockjs_sessions_open{transport="xhr"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// sockjs_sessions_open{transport="xhr"} 1
}
