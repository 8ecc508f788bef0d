// Command sockjsgo is the igm/sockjs-go v3.0.3 server of the
// out-of-process comparison (benchmarks/compare), with DefaultOptions:
// /echo echoes every message; /broadcast sends every message it receives
// to every open session. sockjs-go has no broadcast, so the application
// keeps its sessions in a set under a mutex and loops calling Send over a
// snapshot taken under the lock (sent outside it).
//
//	sockjsgo -addr 127.0.0.1:0
//
// It prints "listening on http://ADDR" once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/igm/sockjs-go/v3/sockjs"
)

// hub is the set of open /broadcast sessions.
type hub struct {
	mu       sync.Mutex
	sessions map[string]sockjs.Session
}

func (h *hub) add(s sockjs.Session) {
	h.mu.Lock()
	h.sessions[s.ID()] = s
	h.mu.Unlock()
}

func (h *hub) remove(s sockjs.Session) {
	h.mu.Lock()
	delete(h.sessions, s.ID())
	h.mu.Unlock()
}

func (h *hub) broadcast(m string) {
	h.mu.Lock()
	all := make([]sockjs.Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		_ = s.Send(m)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()

	mux := http.NewServeMux()
	mux.Handle("/echo/", sockjs.NewHandler("/echo", sockjs.DefaultOptions, func(s sockjs.Session) {
		for {
			m, err := s.Recv()
			if err != nil {
				return
			}
			if s.Send(m) != nil {
				return
			}
		}
	}))
	h := &hub{sessions: make(map[string]sockjs.Session)}
	mux.Handle("/broadcast/", sockjs.NewHandler("/broadcast", sockjs.DefaultOptions, func(s sockjs.Session) {
		h.add(s)
		defer h.remove(s)
		for {
			m, err := s.Recv()
			if err != nil {
				return
			}
			h.broadcast(m)
		}
	}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
