package clustertest

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// A carried stream over TLS + HTTP/2, on servers with the application's
// own WriteTimeout: idle past it, the edge node's response must live on and
// still carry a message that arrives later.
func testClusterCarriedStreamOverHTTP2WithServerTimeouts(t *testing.T, e Engine) {
	f := startCluster(t, e, 2, sockjs.Options{HeartbeatDelay: time.Minute})
	var urls []string
	var client *http.Client
	for _, nd := range f.nodes {
		srv := httptest.NewUnstartedServer(nd.srv.Config.Handler)
		srv.EnableHTTP2 = true
		srv.Config.WriteTimeout = time.Second
		srv.Config.ReadTimeout = time.Second
		srv.StartTLS()
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL+"/echo/000/h2sess/")
		client = srv.Client() // trusts every httptest certificate
	}
	post := func(url, body string) string {
		t.Helper()
		res, err := client.Post(url, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Fatalf("%s went over %s, want HTTP/2", url, res.Proto)
		}
		b := make([]byte, 256)
		n, _ := res.Body.Read(b)
		return string(b[:n])
	}
	if got := post(urls[0]+"xhr", ""); got != "o\n" {
		t.Fatalf("open on node 1: %q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[1]+"xhr_streaming", nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ProtoMajor != 2 {
		t.Fatalf("stream went over %s", res.Proto)
	}
	br := bufio.NewReader(res.Body)
	if _, err := br.ReadString('\n'); err != nil { // prelude
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // idle past both servers' timeouts
	if code := post(urls[1]+"xhr_send", `["late"]`); code != "" {
		t.Fatalf("send via node 2 answered %q", code)
	}
	line := make(chan string, 1)
	go func() {
		l, err := br.ReadString('\n')
		if err != nil {
			l = "error: " + err.Error()
		}
		line <- l
	}()
	select {
	case l := <-line:
		if l != "a[\"late\"]\n" {
			t.Fatalf("carried stream after idling past WriteTimeout: %q", l)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no frame on the carried stream")
	}
}
