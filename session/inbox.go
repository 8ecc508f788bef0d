package session

import "context"

// inbox holds messages received from the client until the application reads
// them. It shares the session's mutex.
type inbox struct {
	in      []string
	inBytes int
	readyC  chan struct{} // a token: messages may be waiting
	spaceC  chan struct{} // a token: room may have been made
	done    chan struct{} // closed when the session closes
}

func (b *inbox) init() {
	b.readyC = make(chan struct{}, 1)
	b.spaceC = make(chan struct{}, 1)
	b.done = make(chan struct{})
}

func (b *inbox) closeLocked() { close(b.done) }

// inboxCost is what a message counts against Config.MaxInboxBytes: its
// bytes plus its string header, so that a flood of empty messages is
// bounded too.
func inboxCost(m string) int { return len(m) + 16 }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Deliver hands messages from the client to the application, in order. When
// the inbox is over Config.MaxInboxBytes it waits for the application to
// read, for ctx, or for the session to close. Messages sent to a closed
// session are dropped and its CloseError returned.
func (s *Session) Deliver(ctx context.Context, msgs []string) error {
	for _, m := range msgs {
		if err := s.deliver(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) deliver(ctx context.Context, m string) error {
	for {
		s.mu.Lock()
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return err
		}
		if limit := s.cfg.MaxInboxBytes; limit <= 0 || len(s.in) == 0 || s.inBytes+inboxCost(m) <= limit {
			s.in = append(s.in, m)
			s.inBytes += inboxCost(m)
			s.mu.Unlock()
			signal(s.readyC)
			return nil
		}
		s.mu.Unlock()
		select {
		case <-s.spaceC:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Recv returns the next message from the client. Messages that arrived
// before the session closed are still returned; after them Recv returns the
// session's *CloseError. It returns ctx's error if ctx ends first.
func (s *Session) Recv(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if len(s.in) > 0 {
			m := s.in[0]
			s.in[0] = ""
			s.in = s.in[1:]
			if len(s.in) == 0 {
				s.in = nil // let the backing array go
			}
			s.inBytes -= inboxCost(m)
			more := len(s.in) > 0
			s.mu.Unlock()
			signal(s.spaceC)
			if more {
				signal(s.readyC) // another reader may be waiting
			}
			return m, nil
		}
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return "", err
		}
		s.mu.Unlock()
		select {
		case <-s.readyC:
		case <-s.done:
		case <-ctx.Done():
			// ctx is often the session's own context, cancelled by the
			// close: then the close, not the context, is the answer.
			select {
			case <-s.done:
				continue
			default:
				return "", ctx.Err()
			}
		}
	}
}
