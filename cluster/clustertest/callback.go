package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// The callback transports, which the Go client does not speak, through a
// proxy that sends each request to the next node.

// jsonp polling and jsonp_send echo through the round-robin proxy: each
// poll and send lands on the next node, and every message arrives once.
func testClusterJSONPThroughRoundRobinProxy(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{AllowJSONP: true})
	base := f.proxy.URL + "/echo/000/jsonp1"
	if r := await(t, "open", request("GET", base+"/jsonp?c=cb", "", nil), 10*time.Second); r[1] != `/**/cb("o");`+"\r\n" {
		t.Fatalf("jsonp open: %s %q", r[0], r[1])
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	const n = 30
	for i := range n {
		r := await(t, "send", request("POST", base+"/jsonp_send", "d="+url.QueryEscape(fmt.Sprintf(`["m%d ☃"]`, i)), form), 10*time.Second)
		if r[0] != "200" || r[1] != "ok" {
			t.Fatalf("jsonp_send %d: %s %q", i, r[0], r[1])
		}
	}
	var got strings.Builder
	for !strings.Contains(got.String(), fmt.Sprintf(`m%d \u2603`, n-1)) && !strings.Contains(got.String(), fmt.Sprintf("m%d ☃", n-1)) {
		r := await(t, "poll", request("GET", base+"/jsonp?c=cb", "", nil), 10*time.Second)
		if r[0] != "200" || !strings.HasPrefix(r[1], `/**/cb("a[`) {
			t.Fatalf("jsonp poll: %s %q", r[0], r[1])
		}
		got.WriteString(r[1])
	}
	for i := range n {
		if c := strings.Count(got.String(), fmt.Sprintf(`m%d `, i)); c != 1 {
			t.Fatalf("message m%d arrived %d times: %q", i, c, got.String())
		}
	}
}

// An htmlfile stream carried through the proxy gets what is sent through
// the other nodes.
func testClusterHTMLFileThroughRoundRobinProxy(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	base := f.proxy.URL + "/echo/000/html1"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/htmlfile?c=cb", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	readUntil := func(want string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if strings.Contains(line, want) {
				return
			}
			if err != nil {
				t.Fatalf("htmlfile stream ended before %q: %v", want, err)
			}
		}
	}
	readUntil(`p("o");`)
	for i := range 10 {
		if code, _ := post(t, base+"/xhr_send", fmt.Sprintf(`["h%d"]`, i)); code != 204 {
			t.Fatalf("send %d: %d", i, code)
		}
		readUntil(fmt.Sprintf(`h%d`, i))
	}
}

func init() {
	add(
		scenario{"JSONPThroughRoundRobinProxy", false, testClusterJSONPThroughRoundRobinProxy},
		scenario{"HTMLFileThroughRoundRobinProxy", false, testClusterHTMLFileThroughRoundRobinProxy},
	)
}
