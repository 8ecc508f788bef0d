//go:build !linux

package transports

import (
	"errors"
	"net"
)

// pollWatch is a connection waiting in the shared poller; without epoll
// there is none, and every stream keeps a reader goroutine.
type pollWatch struct{}

func newPollWatch(net.Conn, func()) *pollWatch { return nil }

func (*pollWatch) arm() error { return errors.ErrUnsupported }

func (*pollWatch) forget() bool { return false }

func (*pollWatch) readNow([]byte) (int, bool, error) { return 0, false, errors.ErrUnsupported }

func (*pollWatch) pending() bool { return false }
