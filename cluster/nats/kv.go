package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bucket is the JetStream key-value bucket of a Store, used through two
// primitives on the bucket's stream: the last message of a key (its value,
// or a delete marker) with its sequence as the key's revision, and a
// publish that expects a revision. Each is one request to the server.
type bucket struct {
	nc        *natsgo.Conn
	js        jetstream.JetStream
	cfg       jetstream.KeyValueConfig
	getPrefix string // $JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.
	putPrefix string // $KV.<bucket>.

	mu   sync.Mutex
	made bool // the bucket exists, as far as this process knows
}

// entry is what a key holds.
type entry struct {
	value  []byte
	rev    uint64 // sequence of the key's last message (value or delete marker); 0: none
	exists bool   // false for a deleted, expired or never written key
}

var (
	// errRevision: the key changed since its revision was read.
	errRevision = errors.New("the key changed meanwhile")
	// errNoBucket: the bucket's stream does not exist (NATS lost its data).
	errNoBucket = errors.New("the bucket does not exist")
)

// markerTTL is how long a delete marker stays; after it the key has no
// message at all, so deleted keys take no room.
const markerTTL = time.Second

func newBucket(nc *natsgo.Conn, cfg jetstream.KeyValueConfig) (*bucket, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: JetStream on the NATS connection: %w", err)
	}
	return &bucket{
		nc:        nc,
		js:        js,
		cfg:       cfg,
		getPrefix: "$JS.API.DIRECT.GET.KV_" + cfg.Bucket + ".$KV." + cfg.Bucket + ".",
		putPrefix: "$KV." + cfg.Bucket + ".",
	}, nil
}

// do runs op, making the bucket first when this process has not yet, and
// again when op finds it gone (the server restarted without its data).
func (b *bucket) do(ctx context.Context, op func(ctx context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	if err := awaitConnected(ctx, b.nc); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if err := b.ensure(ctx); err != nil {
			return err
		}
		err := op(ctx)
		if !errors.Is(err, errNoBucket) || attempt > 0 {
			return err
		}
		b.mu.Lock()
		b.made = false
		b.mu.Unlock()
	}
}

// ensure creates the bucket, or finds it, once.
func (b *bucket) ensure(ctx context.Context) error {
	b.mu.Lock()
	made := b.made
	b.mu.Unlock()
	if made {
		return nil
	}
	if _, err := b.js.CreateOrUpdateKeyValue(ctx, b.cfg); err != nil {
		return fmt.Errorf("create the key-value bucket %q (is JetStream enabled on the server?): %w", b.cfg.Bucket, err)
	}
	b.mu.Lock()
	b.made = true
	b.mu.Unlock()
	return nil
}

// get returns what key holds.
func (b *bucket) get(ctx context.Context, key string) (entry, error) {
	res, err := b.nc.RequestMsgWithContext(ctx, &natsgo.Msg{Subject: b.getPrefix + key})
	if errors.Is(err, natsgo.ErrNoResponders) {
		return entry{}, errNoBucket
	}
	if err != nil {
		return entry{}, fmt.Errorf("read %s: %w", key, err)
	}
	if status := res.Header.Get("Status"); status != "" && len(res.Data) == 0 {
		if status == "404" {
			return entry{}, nil
		}
		return entry{}, fmt.Errorf("read %s: status %s %s", key, status, res.Header.Get("Description"))
	}
	rev, err := strconv.ParseUint(res.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return entry{}, fmt.Errorf("read %s: the answer has no sequence (%w)", key, err)
	}
	deleted := res.Header.Get("KV-Operation") != "" || res.Header.Get(jetstream.MarkerReasonHeader) != ""
	return entry{value: res.Data, rev: rev, exists: !deleted}, nil
}

// anyRev, as put's or del's expected revision, expects nothing.
const anyRev = ^uint64(0)

// put stores value under key, for ttl (0: for ever), when the key's
// revision is still rev (anyRev: whatever it is); errRevision when not.
func (b *bucket) put(ctx context.Context, key string, value []byte, ttl time.Duration, rev uint64) error {
	m := natsgo.NewMsg(b.putPrefix + key)
	m.Data = value
	if ttl > 0 {
		m.Header.Set(jetstream.MsgTTLHeader, ttlString(ttl))
	}
	return b.publish(ctx, m, rev)
}

// del deletes key when its revision is still rev (anyRev: whatever it is).
// The delete marker replaces the key's value and expires after markerTTL.
func (b *bucket) del(ctx context.Context, key string, rev uint64) error {
	m := natsgo.NewMsg(b.putPrefix + key)
	m.Header.Set("KV-Operation", "PURGE")
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Header.Set(jetstream.MsgTTLHeader, ttlString(markerTTL))
	return b.publish(ctx, m, rev)
}

// ttlString gives d in whole seconds, rounded up: the server's unit.
func ttlString(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
}

// pubAck is the server's answer to a publish to a stream.
type pubAck struct {
	Seq   uint64 `json:"seq"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func (b *bucket) publish(ctx context.Context, m *natsgo.Msg, rev uint64) error {
	if rev != anyRev {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	}
	res, err := b.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, natsgo.ErrNoResponders) {
		return errNoBucket
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", m.Subject, err)
	}
	var ack pubAck
	if err := json.Unmarshal(res.Data, &ack); err != nil {
		return fmt.Errorf("write %s: the server's answer does not parse: %w", m.Subject, err)
	}
	if ack.Error != nil {
		if ack.Error.ErrCode == int(jetstream.JSErrCodeStreamWrongLastSequence) || ack.Error.ErrCode == int(jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return errRevision
		}
		return fmt.Errorf("write %s: %s (error %d)", m.Subject, ack.Error.Description, ack.Error.ErrCode)
	}
	return nil
}
