package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// sharded is the Bus's subscriptions on a Redis Cluster: sharded pub/sub
// (SSUBSCRIBE, Redis 7), so that a payload travels only within the shard
// that owns its channel's slot. It holds one subscription connection per
// master that owns a subscribed channel, and merges what they receive into
// one channel for the Bus's delivery goroutine, which keeps one order per
// node. It reads the cluster's layout (CLUSTER SLOTS) every round, at most
// a second apart, and moves the channels that a failover or a resharding
// moved: publishers reach a channel's new master at once, so a subscriber
// must follow within the tunnel's forward timeout or be taken for dead.
// Its methods run on the Bus's manager goroutine only.
type sharded struct {
	cc     *goredis.ClusterClient
	bus    *Bus
	every  time.Duration
	chOpts []goredis.ChannelOption

	layout     []goredis.ClusterSlot
	conns      map[string]*shardConn // by master address
	connsByKey map[string]*shardConn // the connection of each subscribed channel
	msgs       chan *goredis.Message
	wg         sync.WaitGroup // the forwarders
	stop       chan struct{}
}

// shardConn is one subscription connection, to one master; a placeholder
// (ps nil) stands for a channel wanted but not subscribed anywhere yet.
type shardConn struct {
	addr     string
	client   *goredis.Client
	ps       *goredis.PubSub
	channels map[string]struct{}
}

// maxLayoutAge bounds how long a failover goes unnoticed by subscribers.
const maxLayoutAge = time.Second

func newSharded(cc *goredis.ClusterClient, b *Bus, opts BusOptions, chOpts []goredis.ChannelOption) *sharded {
	return &sharded{
		cc:         cc,
		bus:        b,
		every:      min(opts.HealthCheck, maxLayoutAge),
		chOpts:     chOpts,
		conns:      make(map[string]*shardConn),
		connsByKey: make(map[string]*shardConn),
		msgs:       make(chan *goredis.Message, opts.Buffer),
		stop:       make(chan struct{}),
	}
}

// refresh reads the cluster's layout.
func (s *sharded) refresh(ctx context.Context) error {
	slots, err := s.cc.ClusterSlots(ctx).Result()
	if err != nil {
		return fmt.Errorf("read the Redis Cluster's slots: %w", err)
	}
	s.layout = slots
	return nil
}

// masterOf returns the address of the master that serves channel's slot.
func (s *sharded) masterOf(ctx context.Context, channel string) (string, error) {
	if s.layout == nil {
		if err := s.refresh(ctx); err != nil {
			return "", err
		}
	}
	sl := slot(channel)
	for _, r := range s.layout {
		if r.Start <= sl && sl <= r.End && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("no master serves slot %d of the Redis Cluster", sl)
}

// subscribe subscribes channel at the master that owns its slot now.
func (s *sharded) subscribe(ctx context.Context, channel string) error {
	if c, ok := s.connsByKey[channel]; ok {
		if c.ps != nil {
			return nil
		}
		delete(s.connsByKey, channel) // a placeholder: try now
	}
	addr, err := s.masterOf(ctx, channel)
	if err != nil {
		return err
	}
	c := s.conns[addr]
	if c == nil {
		c = s.dial(ctx, addr)
	}
	if err := c.ps.SSubscribe(ctx, channel); err != nil {
		s.dropIfEmpty(c)
		s.layout = nil // perhaps stale (MOVED): read it again next time
		return err
	}
	c.channels[channel] = struct{}{}
	s.connsByKey[channel] = c
	return nil
}

// dial opens a subscription connection to the master at addr, with the
// cluster client's credentials and TLS.
func (s *sharded) dial(ctx context.Context, addr string) *shardConn {
	o := s.cc.Options()
	client := goredis.NewClient(&goredis.Options{
		Addr:      addr,
		Dialer:    o.Dialer,
		Protocol:  o.Protocol,
		Username:  o.Username,
		Password:  o.Password,
		TLSConfig: o.TLSConfig,
	})
	c := &shardConn{addr: addr, client: client, ps: client.SSubscribe(ctx), channels: make(map[string]struct{})}
	s.conns[addr] = c
	s.wg.Add(1)
	go s.forward(c.ps.Channel(s.chOpts...))
	return c
}

// unsubscribe drops channel's subscription, and its connection when it
// was the last one there.
func (s *sharded) unsubscribe(ctx context.Context, channel string) error {
	c := s.connsByKey[channel]
	if c == nil {
		return nil
	}
	delete(s.connsByKey, channel)
	if c.ps == nil {
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
	s.closeConn(c)
	return true
}

func (s *sharded) closeConn(c *shardConn) {
	if s.conns[c.addr] == c {
		delete(s.conns, c.addr)
	}
	if err := c.ps.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		s.bus.log.Debug("sockline cluster: closing a shard's subscription connection", "master", c.addr, "err", err)
	}
	_ = c.client.Close()
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

// reconcile reads the layout and moves every channel whose slot another
// master serves now (a failover, or a resharding: Redis then ends the
// subscription at the old master), or that could not be subscribed
// before. A connection to a node that is no master any more is closed
// whole, without unsubscribing channel by channel from a dead server.
func (s *sharded) reconcile() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.refresh(ctx); err != nil {
		s.bus.log.Debug("sockline cluster: reading the Redis Cluster's layout failed; trying again", "err", err)
		return
	}
	masters := make(map[string]bool)
	for _, r := range s.layout {
		if len(r.Nodes) > 0 {
			masters[r.Nodes[0].Addr] = true
		}
	}
	placeholder := &shardConn{}
	for addr, c := range s.conns {
		if masters[addr] {
			continue
		}
		// go-redis does not re-read the layout after a connection refused:
		// make it, for the publishes and the store's commands.
		s.cc.ReloadState(ctx)
		for channel := range c.channels {
			s.connsByKey[channel] = placeholder
		}
		s.closeConn(c)
	}
	for channel, c := range s.connsByKey {
		addr, err := s.masterOf(ctx, channel)
		if err != nil || addr == c.addr && c.ps != nil {
			continue
		}
		_ = s.unsubscribe(ctx, channel)
		if err := s.subscribe(ctx, channel); err != nil {
			s.bus.log.Warn("sockline cluster: subscribing at the slot's new master failed; retrying", "channel", channel, "err", err)
			s.connsByKey[channel] = placeholder // still wanted: the next round retries
		}
	}
}

// close closes every connection and then the merged channel.
func (s *sharded) close() {
	close(s.stop)
	for _, c := range s.conns {
		_ = c.ps.Close()
		_ = c.client.Close()
	}
	clear(s.conns)
	s.wg.Wait()
	close(s.msgs)
}

// slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of its
// hash tag, or of the whole key without one, modulo 16384.
func slot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(key) % 16384)
			}
		}
		break
	}
	return int(crc16(key) % 16384)
}

func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
