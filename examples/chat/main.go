// Command chat is a small multi-user chat: every message goes to every
// connected user, with join and leave notices and the transport each user's
// browser chose.
//
//	go run ./examples/chat -addr 127.0.0.1:8082 [-allow-origin ORIGIN]... [-sockjs-url URL]
//
// The page is served at / and SockJS at /chat. Page options in the query
// string: ?name=Ann picks the user name, ?transport=xhr-polling forces a
// sockjs-client transport.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/examples/internal/run"
	"github.com/sockline/sockline/sockjs"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	sockjsURL := flag.String("sockjs-url", sockjs.DefaultSockJSURL, "sockjs-client URL the pages load")
	var allowed run.Origins
	flag.Var(&allowed, "allow-origin", "an origin besides the server's own allowed to connect (repeatable)")
	var cc run.ClusterConfig
	flag.StringVar(&cc.Redis, "redis", "", run.RedisUsage)
	flag.StringVar(&cc.RedisCA, "redis-ca", "", run.RedisCAUsage)
	flag.StringVar(&cc.RedisCluster, "redis-cluster", "", run.RedisClusterUsage)
	flag.StringVar(&cc.RedisSentinel, "redis-sentinel", "", run.RedisSentinelUsage)
	flag.StringVar(&cc.Node, "node", "", run.NodeUsage)
	flag.StringVar(&cc.Direct, "direct", "", run.DirectUsage)
	flag.StringVar(&cc.NATS, "nats", "", run.NATSUsage)
	flag.Parse()

	cl, closeCluster, err := run.Cluster(cc)
	if err != nil {
		log.Fatal(err)
	}
	if cl != nil {
		cl.Service = "chat"
		if cl.DirectListener, err = run.DirectListener(cc.Direct); err != nil {
			log.Fatal(err)
		}
	}
	r, h := newServer(sockjs.Options{AllowedOrigins: allowed, SockJSURL: *sockjsURL, Cluster: cl})

	log.Printf("chat on http://%s/", *addr)
	run.Serve(*addr, r, h.Shutdown)
	_ = closeCluster(context.Background()) // after the server and the handlers
}

// newServer wires the chat: the page at / and one room's SockJS handler at
// /chat. It returns the handler too, for Shutdown.
func newServer(opts sockjs.Options) (http.Handler, *sockjs.Handler) {
	h := newRoom(opts).h

	// The page loads the build the iframe page loads, with its integrity
	// hash when one is known (the default URL's is).
	var sockjsClient script
	sockjsClient.URL, sockjsClient.Integrity = opts.SockJSScript()
	r := chi.NewRouter()
	r.Mount("/chat", h)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, sockjsClient)
	})
	return r, h
}
