package sockjs

import (
	"time"

	"github.com/sockline/sockline/internal/tunnel"
)

// The bus delivers at most once: a Redis master killed with a message in
// flight, or a subscription moving to a new master, loses it. An edge that
// hears nothing of an exchange for probeAfter sends its Open again (and
// its last acknowledgement), and the owner, which never serves an exchange
// twice, answers the copy from what it knows: a Wait while the exchange
// runs, the exchange's last message again once it has ended. So a lost
// Open, a lost final chunk (a send's 204, a poll's frames) or a lost End
// costs the client a few seconds instead of the forward timeout's 504,
// and no send is applied twice.

// probeAfter is how long an edge waits, hearing nothing of an exchange,
// before it asks the owner again. An owner says it lives at least every
// half forward timeout (keepalive), so an exchange that is merely idle is
// rarely asked about, and the answer still comes well before the edge
// gives up.
func (c *clusterNode) probeAfter() time.Duration { return c.cfg.ForwardTimeout * 3 / 5 }

// probe asks the owner again about the exchange open, of which nothing was
// heard for probeAfter: the Open again, and the cumulative acknowledgement
// of the chunks written so far (acked: the last one; 0 for none).
func (c *clusterNode) probe(owner string, open *tunnel.Msg, acked uint64) {
	c.h.opts.Logger.Debug("sockline cluster: nothing heard of a carried request; asking its node again", "session", open.Session, "node", owner, "transport", open.Transport)
	again := *open // deliver numbers its attempts in Seq: a copy of its own
	c.goDeliver(owner, &again)
	if acked > 0 {
		c.goDeliver(owner, &tunnel.Msg{Kind: tunnel.KindAck, ID: open.ID, Seq: acked})
	}
}

// answerAgain answers an Open of an exchange this node serves or served
// (cur, or else prev), sent again by an edge that heard nothing.
func (c *clusterNode) answerAgain(m *tunnel.Msg, cur *served, prev recentExchange) {
	switch {
	case cur != nil && cur.edge == m.From:
		c.goDeliver(m.From, &tunnel.Msg{Kind: tunnel.KindWait, ID: m.ID})
	case cur == nil && prev.edge == m.From && prev.answer != nil:
		again := *prev.answer
		c.goDeliver(m.From, &again)
	case cur == nil && prev.edge == m.From:
		// Its answer is no longer kept: the edge must not wait for it, and
		// the request must not be served twice.
		c.goDeliver(m.From, &tunnel.Msg{Kind: tunnel.KindEnd, ID: m.ID, Err: "the response was lost between nodes"})
	default:
		c.stray.Add(1)
	}
}

// keep returns a copy of m to keep as an exchange's answer, taken before m
// is sent: sending writes to a message (From, Addr), and a copy sent again
// is made from the kept one, which nothing writes.
func keep(m *tunnel.Msg) *tunnel.Msg {
	cp := *m
	return &cp
}

// Bounds of what a node remembers of the exchanges it served: their ids
// (so that an Open sent again is never served twice: a send would deliver
// its messages twice) and, within a byte budget, their last messages to
// send again. An answer is needed only while its edge still waits (at most
// a forward timeout and a quarter after the Open).
const (
	recentSize           = 16384
	recentAnswerBytes    = 8 << 20
	maxRecentAnswerBytes = 1 << 20 // one answer's body; larger ones are not kept
)

// recentExchanges remembers the last finished exchanges: their edge and
// session, whether their final chunk carried frames, and their answer.
// Callers hold c.mu.
type recentExchanges struct {
	ring [recentSize]string
	next int
	set  map[string]recentExchange
	// answers lists, oldest first, the exchanges whose answer is kept;
	// answerBytes is what their bodies weigh.
	answers     []string
	answerBytes int
}

type recentExchange struct {
	edge, session string
	carried       bool
	answer        *tunnel.Msg
}

func (r *recentExchanges) get(id string) (recentExchange, bool) {
	e, ok := r.set[id]
	return e, ok
}

func (r *recentExchanges) add(id string, e recentExchange) {
	if r.set == nil {
		r.set = make(map[string]recentExchange, recentSize)
	}
	if old := r.ring[r.next]; old != "" {
		r.dropAnswer(old)
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % recentSize
	if e.answer != nil && len(e.answer.Body) > maxRecentAnswerBytes {
		e.answer = nil
	}
	r.set[id] = e
	if e.answer == nil {
		return
	}
	r.answers = append(r.answers, id)
	r.answerBytes += answerWeight(e.answer)
	// Ids the ring forgot stay listed until they come first: at most
	// recentSize are listed.
	for len(r.answers) > 0 && (r.answerBytes > recentAnswerBytes || len(r.answers) > recentSize) {
		r.dropAnswer(r.answers[0])
		r.answers[0] = ""
		r.answers = r.answers[1:] // append moves what is left to a new array in time
	}
}

// answerWeight is what keeping m costs, roughly: its body and its fields.
func answerWeight(m *tunnel.Msg) int { return len(m.Body) + 256 }

// dropAnswer forgets id's answer (its id stays remembered).
func (r *recentExchanges) dropAnswer(id string) {
	e, ok := r.set[id]
	if !ok || e.answer == nil {
		return
	}
	r.answerBytes -= answerWeight(e.answer)
	e.answer = nil
	r.set[id] = e
}
