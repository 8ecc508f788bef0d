package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/sockline/sockline/stomp"
)

// Defaults of a zero Options field.
const (
	DefaultLogin             = "guest"
	DefaultVirtualHost       = "/"
	DefaultHeartbeat         = 10 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultReconnectDelay    = time.Second
	DefaultMaxReconnectDelay = 30 * time.Second
	DefaultMaxQueuedFrames   = 256
	DefaultMaxQueuedBytes    = 1 << 20
)

// Options configures a Relay. Only Addr is required; every other zero field
// means the default its doc states.
type Options struct {
	// Addr is the broker's STOMP listener, host:port (RabbitMQ: 61613).
	Addr string
	// TLSConfig, when not nil, makes every connection TLS (stomp+ssl;
	// RabbitMQ: 61614). An empty ServerName is taken from Addr's host.
	TLSConfig *tls.Config
	// VirtualHost is the host header of CONNECT, which RabbitMQ reads as
	// its virtual host. Empty means "/".
	VirtualHost string

	// SystemLogin and SystemPasscode authenticate the shared system
	// connection that carries Publish. Empty means "guest".
	SystemLogin, SystemPasscode string
	// ClientLogin and ClientPasscode, when ClientLogin is set, replace the
	// login and passcode of every client session's CONNECT (Spring's
	// clientLogin). Empty means each session uses its client's.
	ClientLogin, ClientPasscode string

	// HeartbeatSend is how often the relay offers to send heart-beats to
	// the broker, HeartbeatReceive how often it asks the broker to send
	// them; a connection whose broker stays silent for three negotiated
	// intervals ends with ErrHeartbeatTimeout. Zero means 10 s; negative
	// turns that direction off.
	HeartbeatSend, HeartbeatReceive time.Duration
	// ConnectTimeout bounds dialing and the CONNECT/CONNECTED exchange of
	// one connection (a shorter context deadline wins). Zero means 10 s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds each write to the broker; a broker that does not
	// read for that long ends the connection. Zero means 10 s.
	WriteTimeout time.Duration
	// ReconnectDelay is the first wait before the system connection is
	// dialed again; it doubles after each failure up to MaxReconnectDelay.
	// Zero means 1 s and 30 s.
	ReconnectDelay, MaxReconnectDelay time.Duration

	// MaxFrameBytes bounds one frame read from or written to the broker.
	// Zero means stomp.DefaultMaxFrameBytes (1 MiB).
	MaxFrameBytes int
	// MaxQueuedFrames and MaxQueuedBytes bound each connection's send
	// queue (frames not yet written); Forward and Publish wait for room, as
	// long as their context allows, when either is reached. A frame larger
	// than MaxQueuedBytes goes alone. Zero means 256 frames and 1 MiB.
	MaxQueuedFrames int
	MaxQueuedBytes  int

	// Logf reports what no caller sees: the system connection's losses and
	// reconnections, and ERROR frames it receives. Nil means log.Printf.
	Logf func(format string, args ...any)
}

// withDefaults validates o and returns it with every zero field filled.
func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" {
		return o, errors.New("relay: Options.Addr is empty: give the broker's STOMP address, host:port (RabbitMQ: localhost:61613)")
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return o, fmt.Errorf("relay: Options.Addr %q is not host:port: %w", o.Addr, err)
	}
	if o.TLSConfig != nil {
		o.TLSConfig = o.TLSConfig.Clone()
		if o.TLSConfig.ServerName == "" {
			o.TLSConfig.ServerName = host
		}
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.VirtualHost, DefaultVirtualHost)
	def(&o.SystemLogin, DefaultLogin)
	def(&o.SystemPasscode, DefaultLogin)
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dur(&o.HeartbeatSend, DefaultHeartbeat)
	dur(&o.HeartbeatReceive, DefaultHeartbeat)
	dur(&o.ConnectTimeout, DefaultConnectTimeout)
	dur(&o.WriteTimeout, DefaultWriteTimeout)
	dur(&o.ReconnectDelay, DefaultReconnectDelay)
	dur(&o.MaxReconnectDelay, DefaultMaxReconnectDelay)
	if o.MaxReconnectDelay < o.ReconnectDelay {
		o.MaxReconnectDelay = o.ReconnectDelay
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = stomp.DefaultMaxFrameBytes
	}
	if o.MaxQueuedFrames <= 0 {
		o.MaxQueuedFrames = DefaultMaxQueuedFrames
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	return o, nil
}
