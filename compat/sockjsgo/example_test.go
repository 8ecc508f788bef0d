package sockjsgo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sockline/sockline/client"
	// Was: "github.com/igm/sockjs-go/v3/sockjs". Nothing else changes.
	sockjs "github.com/sockline/sockline/compat/sockjsgo"
)

// An echo handler as sockjs-go's README writes it, served by Sockline.
func ExampleNewHandler() {
	handler := sockjs.NewHandler("/echo", sockjs.DefaultOptions, func(session sockjs.Session) {
		for {
			if msg, err := session.Recv(); err == nil {
				session.Send(msg)
				continue
			}
			break
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/echo/", handler)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer handler.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	c, err := client.Dial(ctx, ts.URL+"/echo", &client.Options{HTTPClient: hc})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(1000, "")
	c.Send("hi")
	msg, _ := c.Recv(ctx)
	fmt.Println(msg)
	// Output: hi
}
