// Command stomp-chat is a chat on STOMP: @stomp/stompjs in the page over
// sockjs-client, the stomp package's broker on the server. Rooms are topics
// (/topic/rooms/{room}); private messages are user destinations
// (/user/{name}/queue/private).
//
//	go run ./examples/stomp-chat -addr 127.0.0.1:8083 [-allow-origin ORIGIN]... [-sockjs-url URL] [-stompjs FILE] [-redis ADDR [-node NAME]]
//
// Rooms keep their last 1000 messages for 10 minutes: a page that loses its
// connection reconnects and resubscribes from the x-stream-offset of the
// last message it showed, and gets what it missed. Each page lists who is
// in its room (STOMP presence). With -redis (and $SOCKLINE_CLUSTER_SECRET)
// several nodes share rooms, history and members through Redis.
//
// The page is served at /, SockJS at /stomp, and the @stomp/stompjs UMD
// bundle at /stomp.umd.min.js from -stompjs (by default the copy npm ci puts
// in node_modules; when that file is missing the page loads it from a CDN).
// Page options: ?name=Ann, ?room=lobby, ?transport=xhr-polling.
//
// Pages never publish to a topic or a user themselves: they SEND to
// /app/rooms/{room} and /app/private/{user}, and the server publishes with
// the sender's name in an x-from header, so nobody can speak for another.
// The user name comes from CONNECT's login header without a password: a
// demonstration, not authentication.
package main

import (
	"context"
	"flag"
	"log"
	"os"

	"github.com/sockline/sockline/examples/internal/run"
	"github.com/sockline/sockline/sockjs"
)

// stompjsCDN is where the page loads @stomp/stompjs when no local copy is
// served, and stompjsCDNIntegrity the Subresource Integrity hash of that
// file (the npm package's as published, which the CDN serves): the two
// change together.
const (
	stompjsCDN          = "https://cdn.jsdelivr.net/npm/@stomp/stompjs@7.5.0/bundles/stomp.umd.min.js"
	stompjsCDNIntegrity = "sha384-kQjQD4X78U0SNVeFmVuyOn7JuHmYlQ/CaFvAm/Omtfa8/ev8Iu1Ur9grrK53Vp/z"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8083", "address to listen on")
	sockjsURL := flag.String("sockjs-url", sockjs.DefaultSockJSURL, "sockjs-client URL the page loads")
	stompjs := flag.String("stompjs", "node_modules/@stomp/stompjs/bundles/stomp.umd.min.js", "@stomp/stompjs UMD bundle to serve at /stomp.umd.min.js (CDN when missing)")
	var allowed run.Origins
	flag.Var(&allowed, "allow-origin", "an origin besides the server's own allowed to connect (repeatable)")
	var cc run.ClusterConfig
	flag.StringVar(&cc.Redis, "redis", "", run.RedisUsage)
	flag.StringVar(&cc.RedisCA, "redis-ca", "", run.RedisCAUsage)
	flag.StringVar(&cc.Node, "node", "", run.NodeUsage)
	flag.StringVar(&cc.NATS, "nats", "", run.NATSUsage)
	flag.Parse()

	cl, closeCluster, err := run.Cluster(cc)
	if err != nil {
		log.Fatal(err)
	}

	file := *stompjs
	if _, err := os.Stat(file); err != nil {
		log.Printf("no %s (%v): the page loads @stomp/stompjs from %s", file, err, stompjsCDN)
		file = ""
	}
	c := newChat(sockjs.Options{AllowedOrigins: allowed, SockJSURL: *sockjsURL, Cluster: cl}, file)
	log.Printf("stomp chat on http://%s/", *addr)
	run.Serve(*addr, c.router, c.shutdown)
	_ = closeCluster(context.Background()) // after the handlers
}
