package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// sharded is the Bus's subscriptions on a Redis Cluster: sharded pub/sub
// (SSUBSCRIBE, Redis 7), so that a payload travels only within the shard
// that owns its channel's slot.
//
// Every channel carries one of busGroups hash tags (busTag), so a node's
// channels fall into at most busGroups slots, and it holds one subscription
// connection per slot in use: go-redis subscribes a connection's channels
// again in one SSUBSCRIBE when it reconnects, which Redis refuses for
// channels of different slots. What the connections receive is merged into
// one channel for the Bus's delivery goroutine, which keeps one order per
// node. The cluster's layout (CLUSTER SLOTS) is read every round, at most a
// second apart, and a slot's connection moves to the slot's new master
// after a failover or a resharding: publishers reach the new master at
// once, so a subscriber must follow within the tunnel's forward timeout or
// be taken for dead. Its methods run on the Bus's manager goroutine only.
type sharded struct {
	cc     *goredis.ClusterClient
	bus    *Bus
	every  time.Duration
	chOpts []goredis.ChannelOption

	layout []goredis.ClusterSlot
	conns  map[int]*shardConn // by slot
	msgs   chan *goredis.Message
	wg     sync.WaitGroup // the forwarders
	stop   chan struct{}
}

// shardConn is the subscription connection of one slot, at its master.
type shardConn struct {
	slot     int
	addr     string // "" while no master could be reached: the next round retries
	client   *goredis.Client
	ps       *goredis.PubSub
	channels map[string]struct{}
}

// maxLayoutAge bounds how long a failover goes unnoticed by subscribers.
const maxLayoutAge = time.Second

// busGroups is how many hash tags (and so slots) a Redis Cluster bus
// spreads its channels over: at most this many subscription connections
// per node.
const busGroups = 16

// busTags are the hash tags of the groups, chosen so that their slots are
// spread evenly over the slot space (and so over masters that split it
// into ranges, as redis-cli --cluster create does).
var busTags = func() [busGroups]string {
	var tags [busGroups]string
	width := 16384 / busGroups
	for g := range busGroups {
		for i := 0; ; i++ {
			tag := "b" + strconv.Itoa(i)
			if sl := slot(tag); sl >= g*width && sl < (g+1)*width {
				tags[g] = "{" + tag + "}"
				break
			}
		}
	}
	return tags
}()

// busTag returns topic's hash tag.
func busTag(topic string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(topic))
	return busTags[h.Sum32()%busGroups]
}

func newSharded(cc *goredis.ClusterClient, b *Bus, opts BusOptions, chOpts []goredis.ChannelOption) *sharded {
	return &sharded{
		cc:     cc,
		bus:    b,
		every:  min(opts.HealthCheck, maxLayoutAge),
		chOpts: chOpts,
		conns:  make(map[int]*shardConn),
		msgs:   make(chan *goredis.Message, opts.Buffer),
		stop:   make(chan struct{}),
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

// masterOf returns the address of the master that serves slot sl.
func (s *sharded) masterOf(ctx context.Context, sl int) (string, error) {
	if s.layout == nil {
		if err := s.refresh(ctx); err != nil {
			return "", err
		}
	}
	for _, r := range s.layout {
		if r.Start <= sl && sl <= r.End && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("no master serves slot %d of the Redis Cluster", sl)
}

// subscribe subscribes channel on its slot's connection.
func (s *sharded) subscribe(ctx context.Context, channel string) error {
	sl := slot(channel)
	c := s.conns[sl]
	if c == nil {
		addr, err := s.masterOf(ctx, sl)
		if err != nil {
			return err
		}
		c = s.dial(ctx, sl, addr)
	}
	if _, ok := c.channels[channel]; ok {
		return nil
	}
	if c.ps == nil {
		return fmt.Errorf("no connection to the master of slot %d yet", sl)
	}
	if err := c.ps.SSubscribe(ctx, channel); err != nil {
		if len(c.channels) == 0 {
			s.closeConn(c)
		}
		s.layout = nil // perhaps stale (MOVED): read it again next time
		return err
	}
	c.channels[channel] = struct{}{}
	return nil
}

// dial opens slot sl's subscription connection to the master at addr, with
// the cluster client's credentials and TLS.
func (s *sharded) dial(ctx context.Context, sl int, addr string) *shardConn {
	o := s.cc.Options()
	client := goredis.NewClient(&goredis.Options{
		Addr:      addr,
		Dialer:    o.Dialer,
		Protocol:  o.Protocol,
		Username:  o.Username,
		Password:  o.Password,
		TLSConfig: o.TLSConfig,
	})
	c := &shardConn{slot: sl, addr: addr, client: client, ps: client.SSubscribe(ctx), channels: make(map[string]struct{})}
	s.conns[sl] = c
	s.wg.Add(1)
	go s.forward(c.ps.Channel(s.chOpts...))
	return c
}

// unsubscribe drops channel's subscription, and its connection when it
// was the last one there.
func (s *sharded) unsubscribe(ctx context.Context, channel string) error {
	c := s.conns[slot(channel)]
	if c == nil {
		return nil
	}
	if _, ok := c.channels[channel]; !ok {
		return nil
	}
	delete(c.channels, channel)
	if len(c.channels) == 0 {
		s.closeConn(c)
		return nil
	}
	if c.ps == nil {
		return nil
	}
	return c.ps.SUnsubscribe(ctx, channel)
}

// closeConn closes c and forgets it.
func (s *sharded) closeConn(c *shardConn) {
	if s.conns[c.slot] == c {
		delete(s.conns, c.slot)
	}
	if c.ps == nil {
		return
	}
	if err := c.ps.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		s.bus.log.Debug("sockline cluster: closing a slot's subscription connection", "master", c.addr, "err", err)
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

// reconcile reads the layout and moves the connection of every slot that
// another master serves now (a failover, or a resharding: Redis then ends
// the subscriptions at the old master) to it, subscribing its channels
// there again.
func (s *sharded) reconcile() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.refresh(ctx); err != nil {
		s.bus.log.Debug("sockline cluster: reading the Redis Cluster's layout failed; trying again", "err", err)
		return
	}
	var moved []*shardConn
	for sl, c := range s.conns {
		if addr, err := s.masterOf(ctx, sl); err == nil && addr != c.addr {
			moved = append(moved, c)
		}
	}
	if len(moved) > 0 {
		// go-redis does not re-read the layout after a connection refused:
		// make it, for the publishes and the store's commands.
		s.cc.ReloadState(ctx)
	}
	for _, c := range moved {
		s.closeConn(c)
		channels := make([]string, 0, len(c.channels))
		for ch := range c.channels {
			channels = append(channels, ch)
		}
		addr, _ := s.masterOf(ctx, c.slot)
		nc := s.dial(ctx, c.slot, addr)
		if err := nc.ps.SSubscribe(ctx, channels...); err != nil {
			s.bus.log.Warn("sockline cluster: subscribing at the slot's new master failed; retrying", "master", addr, "err", err)
			s.closeConn(nc)
			nc = &shardConn{slot: c.slot} // no connection: the next round retries
			s.conns[c.slot] = nc
		}
		nc.channels = c.channels
	}
}

// close closes every connection and then the merged channel.
func (s *sharded) close() {
	close(s.stop)
	for _, c := range s.conns {
		if c.ps != nil {
			_ = c.ps.Close()
			_ = c.client.Close()
		}
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
