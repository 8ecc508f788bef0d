package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// directRequest is a batched read of a stream's messages with the
// JetStream direct-get API (nats-server 2.11 or later; nats.go has no call
// for it): up to Batch messages from sequence Seq on, only those of NextFor
// when it is set (wildcards allowed). The server answers with one message
// per stored message and an end-of-batch status.
type directRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	Batch   int    `json:"batch"`
	// NoHeaders leaves out every message's headers (its sequence and time
	// stamp too): the server then need not rewrite them per message.
	NoHeaders bool `json:"no_hdr,omitempty"`
}

// errNoStream: nobody answers on the stream's subjects or API (the stream
// does not exist: NATS lost its data, or it was never made).
var errNoStream = errors.New("the stream does not exist")

// directBatch reads one batch of stream and calls each for every message,
// in sequence order, with its sequence (0 with NoHeaders). It returns how many matching messages come after the
// last one read (the server's count at the end of the batch): a batch stops
// early at the server's byte limit, so a reader that wants them all asks
// again from the last sequence plus one. A stream with nothing to return
// gives no call and 0.
func directBatch(ctx context.Context, nc *natsgo.Conn, stream string, req directRequest, each func(m *natsgo.Msg, seq uint64) error) (pending uint64, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server bounds a batch (by count and its byte limit); the client's
	// default limits must not drop part of it as a slow consumer.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	// The subscription goes out before the request on the one connection,
	// so the server has it when it answers.
	if err := nc.PublishMsg(&natsgo.Msg{Subject: "$JS.API.DIRECT.GET." + stream, Reply: inbox, Data: body}); err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", stream, err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204": // end of batch
			n, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return n, nil
		case "404": // nothing matches
			return 0, nil
		case "503": // no responders
			return 0, errNoStream
		default:
			return 0, fmt.Errorf("read %s: status %s %s", stream, status, m.Header.Get("Description"))
		}
		var seq uint64 // 0 without headers
		if !req.NoHeaders {
			if seq, err = strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64); err != nil {
				return 0, fmt.Errorf("read %s: a message without its sequence (%w)", stream, err)
			}
		}
		if err := each(m, seq); err != nil {
			return 0, err
		}
	}
}

// wrongLast is errRevision with the last sequence the server has.
type wrongLast struct{ last uint64 }

func (w wrongLast) Error() string {
	return fmt.Sprintf("%v (the last sequence is %d)", errRevision, w.last)
}
func (w wrongLast) Is(target error) bool { return target == errRevision }

// publishAck publishes m to a stream and returns its sequence. The errors
// a caller acts on are errNoStream (nobody stores m's subject) and
// errRevision (an expected sequence header did not hold; a wrongLast tells
// the sequence the server has, when its answer says).
func publishAck(ctx context.Context, nc *natsgo.Conn, m *natsgo.Msg) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	res, err := nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, natsgo.ErrNoResponders) {
		return 0, errNoStream
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", m.Subject, err)
	}
	var ack pubAck
	if err := json.Unmarshal(res.Data, &ack); err != nil {
		return 0, fmt.Errorf("write %s: the server's answer does not parse: %w", m.Subject, err)
	}
	if ack.Error != nil {
		if ack.Error.ErrCode == int(jetstream.JSErrCodeStreamWrongLastSequence) {
			// "wrong last sequence: N": N is the stream's (or subject's) last sequence
			_, n, _ := strings.Cut(ack.Error.Description, ": ")
			if last, err := strconv.ParseUint(n, 10, 64); err == nil {
				return 0, wrongLast{last}
			}
			return 0, errRevision
		}
		if ack.Error.ErrCode == int(jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, errRevision
		}
		return 0, fmt.Errorf("write %s: %s (error %d)", m.Subject, ack.Error.Description, ack.Error.ErrCode)
	}
	return ack.Seq, nil
}
