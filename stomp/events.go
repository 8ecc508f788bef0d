package stomp

import "runtime/debug"

// EventType says what happened to a session; see Event.
type EventType int

// Session events, as Spring's SessionConnectEvent, SessionConnectedEvent,
// SessionSubscribeEvent, SessionUnsubscribeEvent and
// SessionDisconnectEvent.
const (
	// EventConnect: a CONNECT was authenticated (Event.Frame is it).
	EventConnect EventType = iota + 1
	// EventConnected: CONNECTED was sent.
	EventConnected
	// EventSubscribe: a SUBSCRIBE was accepted.
	EventSubscribe
	// EventUnsubscribe: an UNSUBSCRIBE removed a subscription.
	EventUnsubscribe
	// EventDisconnect: the connection ended (DISCONNECT, ERROR, the client
	// gone). Only for sessions that got EventConnected.
	EventDisconnect
)

// String returns the event's name.
func (t EventType) String() string {
	switch t {
	case EventConnect:
		return "connect"
	case EventConnected:
		return "connected"
	case EventSubscribe:
		return "subscribe"
	case EventUnsubscribe:
		return "unsubscribe"
	case EventDisconnect:
		return "disconnect"
	}
	return "unknown"
}

// Event is one session event, given to Config.OnEvent.
type Event struct {
	// Type is what happened.
	Type EventType
	// Session is the session id (CONNECTED's session header).
	Session string
	// Principal is the session's user.
	Principal Principal
	// Frame is the CONNECT, SUBSCRIBE or UNSUBSCRIBE frame; nil for the
	// others. Do not change it.
	Frame *Frame
	// Subscription and Destination name the subscription of a subscribe
	// or unsubscribe event.
	Subscription, Destination string
	// CloseCode is how a disconnected session was closed by the server
	// (CloseNormal, CloseProtocolError, ...), or 0 when the client or its
	// transport ended it.
	CloseCode int
}

// event calls the hook; a panic there is logged, not fatal.
func (s *Server) event(e Event) {
	if s.cfg.OnEvent == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("stomp: OnEvent hook panicked", "event", e.Type.String(), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.cfg.OnEvent(e)
}
