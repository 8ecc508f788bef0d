package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// sharded is the Bus's subscriptions on a Redis Cluster: sharded pub/sub
// (SSUBSCRIBE, Redis 7), so that a payload travels only within the shard
// that owns its channel's slot. It holds one subscription connection per
// master that owns a subscribed channel, and merges what they receive into
// one channel for the Bus's delivery goroutine, which keeps one order per
// node. Every HealthCheck it asks the cluster where each channel lives now,
// and moves those that a resharding or a failover moved. Its methods run on
// the Bus's manager goroutine only.
type sharded struct {
	cc     *goredis.ClusterClient
	bus    *Bus
	every  time.Duration
	chOpts []goredis.ChannelOption

	conns      map[string]*shardConn // by master address
	connsByKey map[string]*shardConn // the connection of each subscribed channel
	msgs       chan *goredis.Message
	wg         sync.WaitGroup // the forwarders
	stop       chan struct{}
}

// shardConn is one subscription connection, to one master.
type shardConn struct {
	addr     string
	ps       *goredis.PubSub
	channels map[string]struct{}
}

func newSharded(cc *goredis.ClusterClient, b *Bus, opts BusOptions, chOpts []goredis.ChannelOption) *sharded {
	return &sharded{
		cc:         cc,
		bus:        b,
		every:      opts.HealthCheck,
		chOpts:     chOpts,
		conns:      make(map[string]*shardConn),
		connsByKey: make(map[string]*shardConn),
		msgs:       make(chan *goredis.Message, opts.Buffer),
		stop:       make(chan struct{}),
	}
}

// subscribe subscribes channel at the master that owns its slot now.
func (s *sharded) subscribe(ctx context.Context, channel string) error {
	if c, ok := s.connsByKey[channel]; ok {
		if c.ps != nil {
			return nil
		}
		delete(s.connsByKey, channel) // a placeholder: try now
	}
	master, err := s.cc.MasterForKey(ctx, channel)
	if err != nil {
		return err
	}
	addr := master.Options().Addr
	c := s.conns[addr]
	if c == nil {
		c = &shardConn{addr: addr, ps: master.SSubscribe(ctx), channels: make(map[string]struct{})}
		s.conns[addr] = c
		s.wg.Add(1)
		go s.forward(c.ps.Channel(s.chOpts...))
	}
	if err := c.ps.SSubscribe(ctx, channel); err != nil {
		s.dropIfEmpty(c)
		return err
	}
	c.channels[channel] = struct{}{}
	s.connsByKey[channel] = c
	return nil
}

// unsubscribe drops channel's subscription, and its connection when it
// was the last one there.
func (s *sharded) unsubscribe(ctx context.Context, channel string) error {
	c := s.connsByKey[channel]
	if c == nil {
		return nil
	}
	delete(s.connsByKey, channel)
	if c.ps == nil { // a placeholder: not subscribed anywhere
		return nil
	}
	delete(c.channels, channel)
	if s.dropIfEmpty(c) {
		return nil
	}
	return c.ps.SUnsubscribe(ctx, channel)
}

// dropIfEmpty closes c when it holds no channel, and tells whether it did.
func (s *sharded) dropIfEmpty(c *shardConn) bool {
	if len(c.channels) > 0 {
		return false
	}
	delete(s.conns, c.addr)
	if err := c.ps.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		s.bus.log.Debug("sockline cluster: closing a shard's subscription connection", "master", c.addr, "err", err)
	}
	return true
}

// forward hands what one connection receives to the delivery goroutine.
func (s *sharded) forward(in <-chan *goredis.Message) {
	defer s.wg.Done()
	for m := range in {
		select {
		case s.msgs <- m:
		case <-s.stop:
			// Closing: drain until the connection closes its channel.
		}
	}
}

// reconcile moves every channel whose slot another master owns now (a
// failover, or a resharding: Redis then ends the subscription at the old
// master) or that could not be subscribed before, and asks the client to
// reload the cluster's layout for the next round.
func (s *sharded) reconcile() {
	ctx, cancel := context.WithTimeout(context.Background(), s.every)
	defer cancel()
	s.cc.ReloadState(ctx)
	channels := make([]string, 0, len(s.connsByKey))
	for channel := range s.connsByKey {
		channels = append(channels, channel)
	}
	for _, channel := range channels {
		c := s.connsByKey[channel]
		master, err := s.cc.MasterForKey(ctx, channel)
		if err != nil || master.Options().Addr == c.addr {
			continue
		}
		_ = s.unsubscribe(ctx, channel)
		if err := s.subscribe(ctx, channel); err != nil {
			s.bus.log.Warn("sockline cluster: moving a subscription to its slot's new master failed; retrying", "channel", channel, "err", err)
			// Still wanted: a placeholder makes the next round retry.
			s.connsByKey[channel] = &shardConn{}
		}
	}
}

// close closes every connection and then the merged channel.
func (s *sharded) close() {
	close(s.stop)
	for _, c := range s.conns {
		_ = c.ps.Close()
	}
	clear(s.conns)
	s.wg.Wait()
	close(s.msgs)
}
