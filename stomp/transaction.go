package stomp

import (
	"context"
	"errors"
	"fmt"
)

// errWithheld: the frame was handled but gets no RECEIPT, because part of
// it failed and the failures went to Config.OnError.
var errWithheld = errors.New("stomp: receipt withheld")

// onTransaction handles BEGIN, COMMIT and ABORT. Frames were checked when
// held, so a COMMIT only meets what cannot be known in advance (a failing
// handler, a bus failure): each such failure goes to Config.OnError and the
// COMMIT gets no RECEIPT.
func (c *conn) onTransaction(ctx context.Context, f *Frame) error {
	tx := f.Header.Get(HdrTransaction)
	if tx == "" {
		return fmt.Errorf("%s needs a transaction header", f.Command)
	}
	frames, open := c.tx[tx]
	switch {
	case f.Command == CmdBegin && open:
		return fmt.Errorf("transaction %q is already open", tx)
	case f.Command == CmdBegin && len(c.tx) >= maxTransactions:
		return fmt.Errorf("more than %d open transactions", maxTransactions)
	case f.Command == CmdBegin:
		c.tx[tx] = nil
		return nil
	case !open:
		return fmt.Errorf("no open transaction %q", tx)
	}
	delete(c.tx, tx)
	if f.Command == CmdAbort {
		return nil
	}
	failed := false
	for _, fr := range frames {
		// A held frame got its RECEIPT when it arrived.
		fr = &Frame{Command: fr.Command, Header: fr.Header.Clone(), Body: fr.Body}
		fr.Header.Del(HdrTransaction)
		fr.Header.Del(HdrReceipt)
		var err error
		if fr.Command == CmdSend {
			dest := fr.Header.Get(HdrDestination)
			err = c.route(ctx, fr, dest, c.srv.kind(dest))
		} else {
			err = c.ackFrame(ctx, fr)
		}
		var ae *AppError
		switch {
		case err == nil, err == errForwarded:
		case errors.As(err, &ae):
			c.appFailed(ctx, ae)
			failed = true
		default:
			return err
		}
	}
	if failed {
		return errWithheld
	}
	return nil
}

// hold keeps a SEND, ACK or NACK for its transaction's COMMIT.
func (c *conn) hold(tx string, f *Frame) error {
	frames, open := c.tx[tx]
	if !open {
		return fmt.Errorf("no open transaction %q", tx)
	}
	if len(frames) >= maxTxFrames {
		return fmt.Errorf("more than %d frames in transaction %q", maxTxFrames, tx)
	}
	c.tx[tx] = append(frames, f)
	return nil
}
