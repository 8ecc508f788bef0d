// Command sockline is the Sockline server of the out-of-process comparison
// (benchmarks/compare): this module's sockjs package with default options,
// /echo echoing every message and /broadcast sending every message it
// receives to every open session of that handler (Handler.Broadcast).
//
//	sockline -addr 127.0.0.1:0
//
// It prints "listening on http://ADDR" once it accepts connections. With
// -pprof ADDR it also serves net/http/pprof there, to profile a run.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/sockline/sockline/sockjs"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	pprofAddr := flag.String("pprof", "", "address to serve net/http/pprof on (none when empty)")
	flag.Parse()
	if *pprofAddr != "" {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go func() { log.Println(http.ListenAndServe(*pprofAddr, pm)) }()
	}

	mux := http.NewServeMux()
	mux.Handle("/echo/", sockjs.NewHandler(sockjs.Options{Prefix: "/echo"}, func(ctx context.Context, s *sockjs.Session) {
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			if s.Send(m) != nil {
				return
			}
		}
	}))
	var bcast *sockjs.Handler
	bcast = sockjs.NewHandler(sockjs.Options{Prefix: "/broadcast"}, func(ctx context.Context, s *sockjs.Session) {
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			bcast.Broadcast(m)
		}
	})
	mux.Handle("/broadcast/", bcast)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
