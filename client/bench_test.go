package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
)

// BenchmarkEcho measures one message's round trip through the in-process
// testserver, per transport.
func BenchmarkEcho(b *testing.B) {
	for _, tr := range allTransports {
		b.Run(tr, func(b *testing.B) {
			mux, shutdown := services.New(services.Config{})
			ts := newBenchServer(b, mux)
			defer shutdown(context.Background())
			c, err := client.Dial(context.Background(), ts.URL+"/echo", &client.Options{Transports: []string{tr}, HTTPClient: ts.Client()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(1000, "")
			msg := strings.Repeat("m", 64)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Send(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Recv(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// newBenchServer serves h on a loopback httptest server closed with b.
func newBenchServer(b *testing.B, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	b.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		ts.Client().CloseIdleConnections()
	})
	return ts
}
