package prometheus

import (
	"testing"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/sockjs"
)

func TestCauseOf(t *testing.T) {
	for _, tt := range []struct {
		err  *sockjs.CloseError
		want string
	}{
		{&sockjs.CloseError{Code: 1008, Cause: sockjs.ErrSlowConsumer}, "slow_consumer"},
		{&sockjs.CloseError{Code: 1002, Cause: sockjs.ErrClientClosed}, "client"},
		{&sockjs.CloseError{Code: 1006, Cause: sockjs.ErrTimedOut}, "timeout"},
		{&sockjs.CloseError{Code: 1006, Cause: sockjs.ErrWriteFailed}, "write_failed"},
		{&sockjs.CloseError{Code: 3000, Cause: sockjs.ErrServerClosed}, "server"},
		{&sockjs.CloseError{Code: 1013, Cause: sockjs.ErrSendTimeout}, "send_timeout"},
		{&sockjs.CloseError{Code: sockjs.CloseSessionLost, Cause: cluster.ErrSessionLost}, "session_lost"},
		{&sockjs.CloseError{Code: 1000}, "other"},
	} {
		if got := causeOf(tt.err); got != tt.want {
			t.Errorf("causeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
