package nats_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// Messages larger than NATS's max_payload (1 MiB by default) cross between
// nodes: a carried send of a megabyte, and a carried poll that takes
// messages of more than a megabyte each.
func TestClusterCarriesMoreThanMaxPayload(t *testing.T) {
	f := startCluster(t, 2, sockjs.Options{MaxMessageBytes: 2 << 20})
	owner, edge := f.nodes[0].URL+"/echo", f.nodes[1].URL+"/echo"
	open(t, owner, "big")
	big := strings.Repeat("x", 1<<20+100)
	if code, body := post(t, edge+"/000/big/xhr_send", `["`+big+`"]`); code != 204 {
		t.Fatalf("a carried send of 1 MiB: %d %q", code, body)
	}
	for i := range 3 {
		if code, _ := post(t, owner+"/000/big/xhr_send", fmt.Sprintf(`["%d%s"]`, i, big)); code != 204 {
			t.Fatalf("send %d: %d", i, code)
		}
	}
	// Each poll takes what is queued up to the response limit, and at least
	// one message: four polls of a megabyte each, all carried.
	want := []string{big, "0" + big, "1" + big, "2" + big}
	for i, w := range want {
		code, body := post(t, edge+"/000/big/xhr", "")
		if code != 200 || body != `a["`+w+`"]`+"\n" {
			t.Fatalf("carried poll %d: %d, %d bytes: %.60q; want the message of %d bytes", i, code, len(body), body, len(w))
		}
	}
}
