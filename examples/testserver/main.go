// Command testserver serves the conventional SockJS test services on one
// port, for the SockJS protocol suite, sockjs-client's own tests and this
// project's browser tests:
//
//	/echo                     echo (response limit 4096)
//	/close                    closes every session at once with 3000 "Go away!"
//	/disabled_websocket_echo  echo with websocket off
//	/cookie_needed_echo       echo with JSESSIONID cookies on
//	/broadcast                every message goes to every open session
//	/amplify                  a message n is answered with "x" repeated 2^n (n in 1..19)
//	/compressed_echo          echo with websocket permessage-deflate on (frames of 512 bytes and more)
//	/ticker                   sends "tick!" every second
//	/stomp                    STOMP 1.2 broker; CONNECT login names the user, /app/echo replies on /user/queue/echo,
//	                          /app/fail and /app/panic fail (on /user/queue/errors), SUBSCRIBE /app/hello answers "hello LOGIN"
//
// Every service also serves raw websocket at <prefix>/websocket (off only
// where websocket is).
//
// It is a test fixture: every origin is allowed (AllowAnyOrigin), which a
// real application should not do. Start it with
//
//	go run ./examples/testserver -addr 127.0.0.1:8081 -sockjs-url URL [-max-sessions N] [-heartbeat D]
//
// With -stomp-relay HOST:PORT, /stomp relays broker destinations to that
// STOMP broker (RabbitMQ with rabbitmq_stomp), connecting every session and
// the system connection with -stomp-relay-login and -stomp-relay-passcode.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/examples/internal/run"
	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/stomp"
	"github.com/sockline/sockline/stomp/redisqueue"
	"github.com/sockline/sockline/stomp/relay"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	sockjsURL := flag.String("sockjs-url", "", "sockjs-client URL the iframe page loads (default: the CDN build)")
	var cc run.ClusterConfig
	flag.StringVar(&cc.Redis, "redis", "", run.RedisUsage)
	flag.StringVar(&cc.RedisCA, "redis-ca", "", run.RedisCAUsage)
	flag.StringVar(&cc.RedisCluster, "redis-cluster", "", run.RedisClusterUsage)
	flag.StringVar(&cc.RedisSentinel, "redis-sentinel", "", run.RedisSentinelUsage)
	flag.StringVar(&cc.Node, "node", "", run.NodeUsage)
	flag.StringVar(&cc.Direct, "direct", "", run.DirectUsage)
	flag.StringVar(&cc.NATS, "nats", "", run.NATSUsage)
	maxSessions := flag.Int("max-sessions", 0, "sessions each service holds at most (0: the default, 100000; negative: no bound)")
	tlsSelfSigned := flag.Bool("tls-self-signed", false, "serve HTTPS (HTTP/2 and HTTP/1.1) with a throw-away self-signed certificate made at start, and the requests per HTTP version at /protocols")
	heartbeat := flag.Duration("heartbeat", 0, "heartbeat delay of every service (0: the default, 25s); the proxy tests lower it below their proxies' read timeouts")
	relayAddr := flag.String("stomp-relay", "", "relay /stomp's broker destinations to the STOMP broker at HOST:PORT (RabbitMQ: 61613) instead of the built-in broker")
	relayLogin := flag.String("stomp-relay-login", relay.DefaultLogin, "login of every connection to the -stomp-relay broker (its users are not the broker's)")
	relayPasscode := flag.String("stomp-relay-passcode", relay.DefaultLogin, "passcode of -stomp-relay-login")
	flag.Parse()

	cl, closeCluster, err := run.Cluster(cc)
	if err != nil {
		log.Fatal(err)
	}
	var stompQueues stomp.QueueStore // /stomp's queues, shared by the nodes on the cluster's Redis
	if cl != nil && cc.Redis != "" {
		rdb, err := redis.NewClientWith(cc.Redis, redis.ClientOptions{CAFile: cc.RedisCA})
		if err != nil {
			log.Fatal(err)
		}
		defer rdb.Close()
		stompQueues = redisqueue.New(rdb, redisqueue.Options{})
	}
	stompRelay, err := newStompRelay(*relayAddr, *relayLogin, *relayPasscode)
	if err != nil {
		log.Fatal(err)
	}
	var brokerRelay stomp.BrokerRelay // nil unless -stomp-relay (never a nil *relay.Relay in it)
	if stompRelay != nil {
		brokerRelay = stompRelay
	}
	mux, shutdown := services.New(services.Config{SockJSURL: *sockjsURL, Cluster: cl, DirectHost: cc.Direct, MaxSessions: *maxSessions,
		HeartbeatDelay: *heartbeat, StompQueueStore: stompQueues, StompRelay: brokerRelay})
	if cl != nil {
		log.Printf("cluster node %s on %s", cl.Store.Node(), cc.Engine())
	}
	if *tlsSelfSigned {
		serveTLS(*addr, mux, shutdown)
		closeStompRelay(stompRelay)
		_ = closeCluster(context.Background())
		return
	}
	log.Printf("sockline test server on http://%s", *addr)
	run.Serve(*addr, mux, shutdown)
	closeStompRelay(stompRelay)            // after the handlers
	_ = closeCluster(context.Background()) // after the server and the handlers
}

// newStompRelay returns the relay -stomp-relay asks for, or nil without it.
// Client sessions use login too: the test clients' logins name users of the
// application, not of the broker.
func newStompRelay(addr, login, passcode string) (*relay.Relay, error) {
	if addr == "" {
		return nil, nil
	}
	r, err := relay.New(relay.Options{
		Addr:        addr,
		SystemLogin: login, SystemPasscode: passcode,
		ClientLogin: login, ClientPasscode: passcode,
	})
	if err != nil {
		return nil, err
	}
	log.Printf("/stomp relays to the STOMP broker at %s as %q", addr, login)
	return r, nil
}

func closeStompRelay(r *relay.Relay) {
	if r != nil {
		_ = r.Close()
	}
}

// serveTLS is run.Serve over TLS with a self-signed certificate.
func serveTLS(addr string, h http.Handler, shutdown ...func(context.Context) error) {
	cfg, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("sockline test server on https://%s (self-signed)", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: (&protocols{}).wrap(h), TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second}
	if err := run.Until(ctx, srv, ln, shutdown...); err != nil {
		log.Fatal(err)
	}
}
