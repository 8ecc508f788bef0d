package sockjs

// Close codes a session may end with, as CloseError.Code reports them and
// as Session.Close takes them.
//
// Codes 1000-2999 belong to the protocols: WebSocket (RFC 6455) and SockJS
// (2010). The range 3000-3999 is for libraries and frameworks (Sockline
// uses 3000, as SockJS does); 4000-4999 is the application's own. An
// application should close with codes of 4000-4999, whose meaning it
// defines, or with CloseNormal or CloseGoAway; sockjs-client refuses to
// send other codes from its own close(). Over websocket, codes that a close
// frame may not carry (2010, 1005, 1006, 1015) reach the client inside the
// SockJS close frame only.
const (
	// CloseNormal (1000): a normal close.
	CloseNormal = 1000
	// CloseGoingAway (1001): the server is shutting down (Handler.Shutdown).
	CloseGoingAway = 1001
	// CloseInterrupted (1002): SockJS's "Connection interrupted", a
	// receiving connection was cut before the client had every frame.
	CloseInterrupted = 1002
	// ClosePolicyViolation (1008): the client broke a rule, such as falling
	// more than Options.MaxQueuedBytes behind (ErrSlowConsumer).
	ClosePolicyViolation = 1008
	// CloseMessageTooBig (1009): a message past Options.MaxMessageBytes.
	CloseMessageTooBig = 1009
	// CloseInternalError (1011): the session handler panicked.
	CloseInternalError = 1011
	// CloseAnotherConnection (2010): SockJS's "Another connection still
	// open", the answer to a second receiving request for one session; the
	// session itself goes on.
	CloseAnotherConnection = 2010
	// CloseGoAway (3000): SockJS's "Go away!", what a session is closed
	// with when its handler returns.
	CloseGoAway = 3000
)
