package benchmarks

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// These tests check, quickly, that both servers do what the benchmarks
// assume: they echo over websocket and xhr_streaming and reach every
// websocket client with a broadcast.

const sanityMsg = "héllo \"wörld\" 😀"

func sanityFrame(t *testing.T) (out []byte) {
	out, err := json.Marshal([]string{sanityMsg})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkEcho decodes an a[...] frame and expects exactly sanityMsg.
func checkEcho(t *testing.T, f []byte) {
	t.Helper()
	var got []string
	if len(f) == 0 || f[0] != 'a' || json.Unmarshal(f[1:], &got) != nil || len(got) != 1 || got[0] != sanityMsg {
		t.Fatalf("echo frame %q, want a[%q]", f, sanityMsg)
	}
}

func eachImplTest(t *testing.T, f func(t *testing.T, srv *server)) {
	for _, im := range impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			srv := im.start(t)
			defer srv.close()
			f(t, srv)
		})
	}
}

func TestWebsocketEcho(t *testing.T) {
	eachImplTest(t, func(t *testing.T, srv *server) {
		conn, err := dialWS(srv.base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		for range 3 {
			if err := conn.WriteMessage(websocket.TextMessage, sanityFrame(t)); err != nil {
				t.Fatal(err)
			}
			f, err := readMessages(conn, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkEcho(t, f)
		}
	})
}

func TestXHRStreamingEcho(t *testing.T) {
	eachImplTest(t, func(t *testing.T, srv *server) {
		c, err := openXHRStreaming(srv.base)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		for range 3 {
			f, err := c.echo(sanityFrame(t))
			if err != nil {
				t.Fatal(err)
			}
			checkEcho(t, f)
		}
	})
}

func TestBroadcast(t *testing.T) {
	eachImplTest(t, func(t *testing.T, srv *server) {
		f, err := openFanout(srv, 20)
		if err != nil {
			t.Fatal(err)
		}
		defer f.close()
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		for range 3 {
			if err := f.round(srv.broadcast, tm); err != nil {
				t.Fatal(err)
			}
		}
	})
}
