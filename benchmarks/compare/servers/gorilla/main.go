// Command gorilla is the ceiling of the out-of-process comparison
// (benchmarks/compare): gorilla/websocket speaking just enough SockJS over
// websocket for sockline bench, and nothing else (no heartbeats, no HTTP
// transports, no close frames). Start it with
//
//	gorilla -addr 127.0.0.1:0
//
// It prints "listening on http://ADDR" once it accepts connections, then
// answers GET /{echo,broadcast}/info with SockJS info JSON (websocket on),
// and upgrades GET /{echo,broadcast}/{server}/{session}/websocket: it sends
// "o", then decodes every text message ["a","b"] and sends a["a","b"] back
// (/echo) or to every open connection (/broadcast: the receiving goroutine
// writes to each connection itself, under that connection's mutex).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// conn is one websocket connection; mu serializes its writes.
type conn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (c *conn) write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// server holds the open /broadcast connections.
type server struct {
	up    websocket.Upgrader
	mu    sync.Mutex
	conns map[*conn]struct{}
}

// frame decodes a client message (a JSON array of strings, or one string)
// and returns the a[...] frame carrying the same messages; ok is false for
// anything else.
func frame(m []byte) ([]byte, bool) {
	var msgs []string
	if err := json.Unmarshal(m, &msgs); err != nil {
		var one string
		if json.Unmarshal(m, &one) != nil {
			return nil, false
		}
		msgs = []string{one}
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return nil, false
	}
	return append([]byte{'a'}, b...), true
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) == 0 || (parts[0] != "echo" && parts[0] != "broadcast") {
		http.NotFound(w, r)
		return
	}
	switch {
	case len(parts) == 2 && parts[1] == "info":
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		fmt.Fprint(w, `{"websocket":true,"cookie_needed":false,"origins":["*:*"],"entropy":1}`)
	case len(parts) == 4 && parts[3] == "websocket" && r.Method == http.MethodGet:
		ws, err := s.up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.serve(&conn{ws: ws}, parts[0] == "broadcast")
	default:
		http.NotFound(w, r)
	}
}

// serve runs one connection until it fails.
func (s *server) serve(c *conn, broadcast bool) {
	defer c.ws.Close()
	if c.write([]byte("o")) != nil {
		return
	}
	if broadcast {
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
	for {
		_, m, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		f, ok := frame(m)
		if !ok {
			return
		}
		if !broadcast {
			if c.write(f) != nil {
				return
			}
			continue
		}
		s.mu.Lock()
		all := make([]*conn, 0, len(s.conns))
		for o := range s.conns {
			all = append(all, o)
		}
		s.mu.Unlock()
		for _, o := range all {
			_ = o.write(f)
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, &server{conns: make(map[*conn]struct{})}))
}
