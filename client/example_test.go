package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
)

// testServer serves the testserver services for the examples.
func testServer() (*httptest.Server, func()) {
	mux, shutdown := services.New(services.Config{})
	ts := httptest.NewServer(mux)
	return ts, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
	}
}

func ExampleDial() {
	ts, stop := testServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Any transport the server offers, in sockjs-client's order.
	c, err := client.Dial(ctx, ts.URL+"/echo", nil)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close(1000, "bye")
	fmt.Println("transport:", c.Transport())
	c.Send("hello")
	msg, err := c.Recv(ctx)
	fmt.Println(msg, err)
	// Output:
	// transport: websocket
	// hello <nil>
}

func ExampleOptions() {
	ts, stop := testServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Only xhr-polling, as behind a proxy that buffers streams.
	c, err := client.Dial(ctx, ts.URL+"/echo", &client.Options{
		Transports: []string{client.XHRPolling},
	})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close(1000, "bye")
	c.Send("polled")
	msg, _ := c.Recv(ctx)
	fmt.Println(c.Transport(), msg)
	// Output: xhr-polling polled
}

func ExampleCloseError() {
	ts, stop := testServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The /close service closes every session at once.
	c, err := client.Dial(ctx, ts.URL+"/close", &client.Options{Transports: []string{client.XHRStreaming}})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	_, err = c.Recv(ctx)
	var ce *client.CloseError
	if errors.As(err, &ce) && errors.Is(err, client.ErrServerClosed) {
		fmt.Println(ce.Code, ce.Reason)
	}
	// Output: 3000 Go away!
}

func ExampleConn_Flush() {
	ts, stop := testServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := client.Dial(ctx, ts.URL+"/echo", nil)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	for i := range 3 {
		c.Send(fmt.Sprint("line ", i))
	}
	// Close drops what is still queued: Flush first.
	if err := c.Flush(ctx); err != nil {
		fmt.Println("flush:", err)
	}
	for range 3 {
		msg, _ := c.Recv(ctx)
		fmt.Println(msg)
	}
	c.Close(1000, "bye")
	// Output:
	// line 0
	// line 1
	// line 2
}
