package nats

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// A payload larger than the server's max_payload (1 MiB by default; a
// carried poll may take several megabytes of queued messages) goes out as
// several messages, one after the other on the publisher's connection, each
// with two headers; the receiving node puts them together before its
// handlers see the payload. NATS keeps one connection's messages in order,
// so the parts of one payload arrive in order, and before anything the same
// publisher sent after it: a part missing (dropped for a slow consumer)
// drops the whole payload, as at-most-once allows.
const (
	hdrMsg  = "Sockline-Msg"  // the payload's id: the publishing bus's id and a sequence number
	hdrPart = "Sockline-Part" // the part's index and the number of parts: "i/n"
)

// fragmentHeadroom is left in each part for its headers and protocol line.
const fragmentHeadroom = 4 << 10

// Bounds of the parts a node holds while it waits for the rest.
const (
	maxParts    = 1024             // parts of one payload
	maxPartials = 64               // payloads being put together at once
	partialAge  = 30 * time.Second // after this an incomplete payload is dropped
)

// partial is a payload being put together.
type partial struct {
	n       int
	parts   [][]byte
	started time.Time
}

// send publishes payload on subj, in parts when it exceeds the server's
// max_payload; reply goes on the last part.
func (b *Bus) send(subj string, payload []byte, reply string) error {
	limit := max(int(b.nc.MaxPayload())-fragmentHeadroom, 1024)
	if len(payload) <= limit {
		return b.nc.PublishMsg(&natsgo.Msg{Subject: subj, Reply: reply, Data: payload})
	}
	n := (len(payload) + limit - 1) / limit
	if n > maxParts {
		return errTooLarge
	}
	id := b.id + "." + strconv.FormatUint(b.nextMsg.Add(1), 10)
	for i := range n {
		m := &natsgo.Msg{Subject: subj, Data: payload[i*limit : min((i+1)*limit, len(payload))], Header: natsgo.Header{}}
		m.Header.Set(hdrMsg, id)
		m.Header.Set(hdrPart, strconv.Itoa(i)+"/"+strconv.Itoa(n))
		if i == n-1 {
			m.Reply = reply
		}
		if err := b.nc.PublishMsg(m); err != nil {
			return err
		}
	}
	return nil
}

// assemble takes one received message of subj and returns the payload it
// completes: its data when it is not a part, nil while parts are missing.
// Only the delivery goroutine calls it.
func (b *Bus) assemble(subj string, m *natsgo.Msg) []byte {
	id := m.Header.Get(hdrMsg)
	if id == "" {
		return m.Data
	}
	is, ns, ok := strings.Cut(m.Header.Get(hdrPart), "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > maxParts || i < 0 || i >= n {
		return nil
	}
	key := subj + " " + id
	now := time.Now()
	if i == 0 {
		b.evictPartials(now)
		b.partials[key] = &partial{n: n, started: now}
	}
	p := b.partials[key]
	if p == nil || p.n != n || len(p.parts) != i {
		delete(b.partials, key) // a part was lost
		return nil
	}
	p.parts = append(p.parts, m.Data)
	if i < n-1 {
		return nil
	}
	delete(b.partials, key)
	return bytes.Join(p.parts, nil)
}

// evictPartials drops incomplete payloads that are too old, and the
// oldest when too many wait.
func (b *Bus) evictPartials(now time.Time) {
	for len(b.partials) >= maxPartials {
		oldest := ""
		for k, p := range b.partials {
			if oldest == "" || p.started.Before(b.partials[oldest].started) {
				oldest = k
			}
		}
		delete(b.partials, oldest)
	}
	for k, p := range b.partials {
		if now.Sub(p.started) > partialAge {
			delete(b.partials, k)
		}
	}
}
