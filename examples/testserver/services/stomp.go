package services

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/stomp"
)

// StompConfig is what StompWith takes.
type StompConfig struct {
	// Bus, when set (the cluster's), carries /topic and user destinations
	// to the other nodes, and the user registry: Users lists every node's.
	Bus pubsub.Bus
	// Relay, when set, carries broker destinations to an external broker.
	Relay stomp.BrokerRelay
	// QueueStore, when set, shares the queues between nodes.
	QueueStore stomp.QueueStore
	// History, when set (the cluster's Redis), keeps the topics' history
	// for every node; nil keeps it in memory, unless Bus is set (a cluster
	// without a shared store keeps none).
	History history.Store
	// Presence, when set (the cluster's Redis), holds the topics' members
	// for every node; nil keeps them in memory, unless Bus is set.
	Presence presence.Store
}

// Stomp is StompWith(StompConfig{Bus: bus}).
func Stomp(bus pubsub.Bus) *stomp.Server { return StompWith(StompConfig{Bus: bus}) }

// StompWith returns the /stomp service: a STOMP 1.2 broker for
// @stomp/stompjs over sockjs-client. It is a fixture: the CONNECT login
// header names the user and no password is checked. Besides /topic, /queue
// and /user destinations it has application destinations:
//
//   - SEND /app/echo is answered on the sender's /user/queue/echo with the
//     same body and headers;
//   - SEND /app/fail fails (its handler returns an error) and SEND
//     /app/panic panics: both reach the sender's /user/queue/errors, and
//     the session stays;
//   - SUBSCRIBE /app/hello is answered once, on that subscription, with
//     "hello LOGIN" (@SubscribeMapping style);
//   - SEND /app/cut closes the sender's connection, as a network that
//     drops it would (no ERROR frame).
//
// Every /topic/ keeps history (1000 messages, 10 minutes: SUBSCRIBE with
// x-stream-offset recovers) and presence (SUBSCRIBE with x-presence: true;
// /app/presence/{name}, /topic/presence.{name}), in memory on one node, in
// the cluster's Redis with History and Presence set.
//
// Serve sessions with its ServeSession; Close it after the handler's
// Shutdown, which stops its in-memory bus.
func StompWith(c StompConfig) *stomp.Server {
	cfg := stomp.Config{}
	if c.Bus == nil || c.History != nil {
		cfg.History = stomp.HistoryConfig{Store: c.History,
			Rules: []history.Rule{{Pattern: stomp.TopicPrefix + "*", Bounds: history.Bounds{Size: 1000, TTL: 10 * time.Minute}}}}
	}
	if c.Bus == nil || c.Presence != nil {
		cfg.Presence = stomp.PresenceConfig{Enabled: true, Store: c.Presence}
	}
	node := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	srv := stomp.NewServer(stomp.Config{
		NodeID:       node,
		ServerName:   "sockline node " + node, // tests tell the nodes apart by CONNECTED's server header
		Authenticate: stomp.LoginAuthenticator,
		Bus:          c.Bus,
		Relay:        c.Relay,
		QueueStore:   c.QueueStore,
		ClusterUsers: c.Bus != nil,
		History:      cfg.History,
		Presence:     cfg.Presence,
	})
	srv.Handle("/app/cut", func(ctx context.Context, m *stomp.AppMessage) error {
		m.Disconnect()
		return nil
	})
	srv.Handle("/app/echo", func(ctx context.Context, m *stomp.AppMessage) error {
		return m.Reply("/user/queue/echo", m.Header, m.Body)
	})
	srv.Handle("/app/fail", func(ctx context.Context, m *stomp.AppMessage) error {
		return fmt.Errorf("%w: /app/fail fails, as asked", stomp.ErrRefused)
	})
	srv.Handle("/app/panic", func(ctx context.Context, m *stomp.AppMessage) error {
		panic("panic: as asked")
	})
	srv.HandleSubscribe("/app/hello", func(ctx context.Context, m *stomp.AppMessage) error {
		return m.Reply(m.Destination, stomp.Header{{Key: "content-type", Value: "text/plain;charset=utf-8"}}, []byte("hello "+m.Principal.Name))
	})
	return srv
}
