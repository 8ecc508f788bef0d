package services

import (
	"context"

	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/stomp"
)

// Stomp is the /stomp service: a STOMP 1.2 broker for @stomp/stompjs over
// sockjs-client. It is a fixture: the CONNECT login header names the user
// and no password is checked. Besides /topic, /queue and /user
// destinations it has one application destination: a SEND to /app/echo is
// answered on the sender's /user/queue/echo with the same body and headers.
// Serve sessions with its ServeSession; Close it after the handler's
// Shutdown, which stops its in-memory bus. A non-nil bus (the cluster's)
// carries /topic and user destinations to the other nodes.
func Stomp(bus pubsub.Bus) *stomp.Server {
	srv := stomp.NewServer(stomp.Config{Authenticate: stomp.LoginAuthenticator, Bus: bus})
	srv.Handle("/app/echo", func(ctx context.Context, m *stomp.AppMessage) error {
		return m.Reply("/user/queue/echo", m.Header, m.Body)
	})
	return srv
}
