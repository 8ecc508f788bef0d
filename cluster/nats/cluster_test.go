package nats_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/clustertest"
	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// The scenarios every engine passes are in package clustertest (see
// suite_test.go); this file starts nodes on NATS for the tests of what only
// NATS has (payloads past max_payload) and for the benchmarks.

// engine returns node name's Store and Bus on srv and a function that
// closes them (the bus, then the connection; the store needs nothing).
// The lease is a second (JetStream's least), records last a minute.
func engine(t testing.TB, srv *natstest.Server, name string) (cluster.Store, pubsub.Bus, func()) {
	t.Helper()
	nc, err := nats.Connect(srv.URL(), natsgo.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: name, Lease: time.Second, Tombstone: time.Minute})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return store, bus, sync.OnceFunc(func() {
		_ = bus.Close()
		nc.Close()
	})
}

// testSecret is the cluster secret of the test nodes.
var testSecret = clustertest.Secret

// clusterFixture is n echoing nodes on one nats-server, each on its own
// port as a separate process would be, and a round-robin proxy.
type clusterFixture struct {
	nodes []*httptest.Server
	proxy *rrproxy.Proxy
}

func startCluster(t *testing.T, n int, opts sockjs.Options) *clusterFixture {
	t.Helper()
	srv := natstest.Start(t)
	f := &clusterFixture{}
	var urls []string
	for i := range n {
		store, bus, closeEngine := engine(t, srv, fmt.Sprintf("n%d", i+1))
		o := opts
		o.Cluster = &sockjs.Cluster{Store: store, Bus: bus, Secret: testSecret, RenewInterval: 250 * time.Millisecond}
		h := sockjs.NewHandler(o, func(ctx context.Context, s *sockjs.Session) {
			for {
				msg, err := s.Recv(ctx)
				if err != nil {
					return
				}
				_ = s.Send(msg)
			}
		})
		mux := http.NewServeMux()
		mux.Handle("/echo/", http.StripPrefix("/echo", h))
		hs := httptest.NewServer(mux)
		t.Cleanup(func() {
			hs.CloseClientConnections()
			hs.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
			closeEngine()
		})
		f.nodes = append(f.nodes, hs)
		urls = append(urls, hs.URL)
	}
	f.proxy = rrproxy.Start(t, urls...)
	return f
}

// post makes one request and returns the status and body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

func open(t *testing.T, base, id string) {
	t.Helper()
	if code, body := post(t, base+"/000/"+id+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open %s at %s: %d %q", id, base, code, body)
	}
}
