package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Connect connects to NATS at url as a cluster node needs: nats://host:port
// (tls:// for TLS; several servers comma-separated; user:password@ or a
// token as nats.go takes them). The connection reconnects for ever, every
// half second, and pings the server every 3 s so that a dead connection is
// found within seconds rather than minutes. Disconnections, reconnections
// and asynchronous errors (a slow consumer dropping payloads) go to
// slog.Default(). opts come after these and may change them (credentials,
// TLS, a name, the handlers). The caller closes the connection after the
// Bus and the handlers.
func Connect(url string, opts ...natsgo.Option) (*natsgo.Conn, error) {
	if url == "" {
		return nil, errors.New("cluster: empty NATS address: give nats://host:port")
	}
	all := append([]natsgo.Option{
		natsgo.Name("sockline"),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(500 * time.Millisecond),
		natsgo.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
		natsgo.PingInterval(3 * time.Second),
		natsgo.MaxPingsOutstanding(2),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil { // nil: closed on purpose
				slog.Warn("sockline cluster: NATS connection lost; reconnecting", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			slog.Info("sockline cluster: NATS connection back", "server", nc.ConnectedUrlRedacted())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			slog.Warn("sockline cluster: NATS", "err", err, "subject", subject)
		}),
	}, opts...)
	nc, err := natsgo.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS: %w (is nats-server running there, with JetStream on: nats-server -js?)", err)
	}
	return nc, nil
}

// awaitConnected returns once nc is connected, or errNotConnected when it
// is not within one reconnection attempt (its ReconnectWait and jitter) or
// before ctx ends. A server that has just come back is reached on nc's
// next attempt: without the wait, every operation until then would fail
// although the server is up (a Redis client dials on demand, and has no
// such gap); with it, an outage delays an operation by one reconnection
// interval (0.7 s with Connect's options), 2 s at most.
func awaitConnected(ctx context.Context, nc *natsgo.Conn) error {
	if nc.IsConnected() {
		return nil
	}
	// One attempt's wait and jitter, and time to connect; bounded, as
	// ReconnectWait may be long.
	wait := min(nc.Opts.ReconnectWait+nc.Opts.ReconnectJitter+100*time.Millisecond, 2*time.Second)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		if nc.IsClosed() {
			return fmt.Errorf("NATS connection %s: %w", nc.Status(), errNotConnected)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("NATS connection %s: %w", nc.Status(), errNotConnected)
		case <-timer.C:
			return fmt.Errorf("NATS connection %s: %w", nc.Status(), errNotConnected)
		case <-tick.C:
		}
	}
	return nil
}
