package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/stomp"
)

// TestRoundTrip subscribes through the relay and receives what another
// session SENDs and what Publish sends, for each kind of RabbitMQ
// destination.
func TestRoundTrip(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	for _, tc := range []struct{ name, sub, send string }{
		{"topic", "/topic/rt.x", "/topic/rt.x"},
		{"queue", "/queue/rt-x", "/queue/rt-x"},
		{"exchange", "/exchange/amq.topic/rt.*", "/exchange/amq.topic/rt.a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := open(t, r, "guest", "guest")
			pub := open(t, r, "guest", "guest")
			sub.subscribe(t, "s1", tc.sub)
			pub.forward(t, stomp.CmdSend, "destination", tc.send, "body", "from a session")
			m := sub.next(t, stomp.CmdMessage)
			if string(m.Body) != "from a session" || m.Header.Get(stomp.HdrSubscription) != "s1" {
				t.Fatalf("MESSAGE %v %q, want subscription s1 and the body sent", m.Header, m.Body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := r.Publish(ctx, tc.send, stomp.Header{{Key: "x-app", Value: "1"}}, []byte("published")); err != nil {
				t.Fatal(err)
			}
			m = sub.next(t, stomp.CmdMessage)
			if string(m.Body) != "published" || m.Header.Get("x-app") != "1" {
				t.Fatalf("MESSAGE %v %q, want the published body and header", m.Header, m.Body)
			}
		})
	}
}

// TestLogins: a session CONNECTs with its client's login (a wrong one is
// refused with the broker's ERROR), Options.ClientLogin replaces it, and the
// system connection uses Options.SystemLogin.
func TestLogins(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	_, err := tryOpen(r, "guest", "wrong")
	var be *BrokerError
	if !errors.As(err, &be) {
		t.Fatalf("Open with a wrong passcode: %v, want a *BrokerError", err)
	}
	t.Logf("refused as it should be: %v", err)

	o := testOptions(b.Addr())
	o.ClientLogin, o.ClientPasscode = "guest", "guest"
	overridden := newRelay(t, o)
	p := open(t, overridden, "nobody", "wrong")
	p.forward(t, stomp.CmdSend, "destination", "/topic/logins", "receipt", "r1")
	p.next(t, stomp.CmdReceipt)

	o = testOptions(b.Addr())
	o.SystemPasscode = "wrong"
	bad, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := bad.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady with a wrong system passcode: %v, want a deadline", err)
	}
	_, err = tryOpen(bad, "guest", "guest")
	if !errors.Is(err, ErrBrokerUnavailable) || !errors.As(err, &be) {
		t.Fatalf("Open while the system connection is refused: %v, want ErrBrokerUnavailable with the broker's ERROR", err)
	}
	t.Logf("Open while the system login is refused: %v", err)
}

// TestReceipts: every frame with a receipt header gets its RECEIPT
// (RabbitMQ answers a SEND's receipt when the publish is confirmed, so not
// necessarily in order).
func TestReceipts(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	p := open(t, r, "guest", "guest")
	p.forward(t, stomp.CmdSubscribe, "id", "a", "destination", "/topic/receipts", "receipt", "1")
	p.forward(t, stomp.CmdSend, "destination", "/topic/nobody", "receipt", "2", "body", "x")
	p.forward(t, stomp.CmdUnsubscribe, "id", "a", "receipt", "3")
	p.forward(t, stomp.CmdBegin, "transaction", "tx", "receipt", "4")
	p.forward(t, stomp.CmdAbort, "transaction", "tx", "receipt", "5")
	want := map[string]bool{"1": true, "2": true, "3": true, "4": true, "5": true}
	for range len(want) {
		id := p.next(t, stomp.CmdReceipt).Header.Get(stomp.HdrReceiptID)
		if !want[id] {
			t.Fatalf("unexpected or repeated receipt-id %q", id)
		}
		delete(want, id)
	}
}

// TestAckModes: with ack:client-individual, a NACKed message comes again,
// and an unacknowledged one goes to the next consumer when its session
// closes, while an ACKed one does not.
func TestAckModes(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	const q = "/queue/acks"
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c1, err := tryOpen(r, "guest", "guest")
	if err != nil {
		t.Fatal(err)
	}
	c1.subscribe(t, "q", q, "ack", "client-individual", "prefetch-count", "10")
	for _, body := range []string{"m1", "m2", "m3"} {
		if err := r.Publish(ctx, q, nil, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{} // body -> ack id
	for range 3 {
		m := c1.next(t, stomp.CmdMessage)
		got[string(m.Body)] = m.Header.Get(stomp.HdrAck)
	}
	c1.forward(t, stomp.CmdAck, "id", got["m1"])
	c1.forward(t, stomp.CmdNack, "id", got["m2"])
	m := c1.next(t, stomp.CmdMessage)
	if string(m.Body) != "m2" || m.Header.Get("redelivered") != "true" {
		t.Fatalf("after NACK got %v %q, want m2 redelivered", m.Header, m.Body)
	}
	c1.forward(t, stomp.CmdAck, "id", m.Header.Get(stomp.HdrAck), "receipt", "acked")
	c1.next(t, stomp.CmdReceipt)
	if err := c1.Close(); err != nil { // m3 unacknowledged: back to the queue
		t.Fatal(err)
	}
	c2 := open(t, r, "guest", "guest")
	c2.subscribe(t, "q", q, "ack", "client")
	m = c2.next(t, stomp.CmdMessage)
	if string(m.Body) != "m3" {
		t.Fatalf("next consumer got %q, want m3 (the only one not acknowledged)", m.Body)
	}
	c2.forward(t, stomp.CmdAck, "id", m.Header.Get(stomp.HdrAck))
}

// TestForwardRefuses: CONNECT, DISCONNECT and server frames are not
// forwarded, nor a frame past MaxFrameBytes; the session stays usable.
func TestForwardRefuses(t *testing.T) {
	b := needBroker(t)
	o := testOptions(b.Addr())
	o.MaxFrameBytes = 1024
	r := newRelay(t, o)
	p := open(t, r, "guest", "guest")
	ctx := context.Background()
	for _, f := range []*stomp.Frame{
		{Command: stomp.CmdConnect},
		{Command: stomp.CmdDisconnect},
		{Command: stomp.CmdMessage},
	} {
		if err := p.Forward(ctx, f); !errors.Is(err, ErrNotForwarded) {
			t.Errorf("Forward %s: %v, want ErrNotForwarded", f.Command, err)
		}
	}
	big := &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{{Key: "destination", Value: "/topic/big"}}, Body: make([]byte, 2000)}
	if err := p.Forward(ctx, big); !errors.Is(err, stomp.ErrTooLarge) {
		t.Errorf("Forward of 2000 bytes with MaxFrameBytes 1024: %v, want ErrTooLarge", err)
	}
	if err := r.Publish(ctx, "/topic/big", nil, big.Body); !errors.Is(err, stomp.ErrTooLarge) {
		t.Errorf("Publish of 2000 bytes with MaxFrameBytes 1024: %v, want ErrTooLarge", err)
	}
	p.forward(t, stomp.CmdSend, "destination", "/topic/small", "receipt", "ok", "body", "x")
	p.next(t, stomp.CmdReceipt)
}

// TestCloseIsQuiet: closing a session or the relay does not call closed,
// and a closed relay refuses Open and Publish with ErrClosed.
func TestCloseIsQuiet(t *testing.T) {
	b := needBroker(t)
	r, err := New(testOptions(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	p1, err := tryOpen(r, "guest", "guest")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := tryOpen(r, "guest", "guest")
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for i, p := range []*probe{p1, p2} {
		select {
		case err := <-p.closed:
			t.Errorf("session %d: closed called after Close: %v", i+1, err)
		default:
		}
	}
	if err := p2.Forward(ctx, &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{{Key: "destination", Value: "/topic/x"}}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Forward after the relay's Close: %v, want ErrClosed", err)
	}
	if _, err := tryOpen(r, "guest", "guest"); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: %v, want ErrClosed", err)
	}
	if err := r.Publish(ctx, "/topic/x", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
}

// TestTLS relays over RabbitMQ's stomp+ssl listener, trusting its test CA.
func TestTLS(t *testing.T) {
	b := needBroker(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CAPEM()) {
		t.Fatal("bad CA PEM")
	}
	o := testOptions(b.TLSAddr())
	o.TLSConfig = &tls.Config{RootCAs: pool}
	r := newRelay(t, o)
	p := open(t, r, "guest", "guest")
	p.subscribe(t, "s", "/topic/tls")
	p.forward(t, stomp.CmdSend, "destination", "/topic/tls", "body", "over TLS")
	if m := p.next(t, stomp.CmdMessage); string(m.Body) != "over TLS" {
		t.Fatalf("got %q", m.Body)
	}
	// A relay that does not trust the CA cannot connect, and says why.
	o.TLSConfig = &tls.Config{}
	untrusting, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	_, err = tryOpen(untrusting, "guest", "guest")
	var unknown x509.UnknownAuthorityError
	if !errors.Is(err, ErrBrokerUnavailable) || !errors.As(err, &unknown) {
		t.Fatalf("Open with an untrusted certificate: %v, want ErrBrokerUnavailable and x509.UnknownAuthorityError", err)
	}
}

// TestBrokerErrorEndsSession: an ERROR from the broker (a SEND to an
// exchange that does not exist) is delivered, then the session ends with a
// *BrokerError saying what the broker said; other sessions go on.
func TestBrokerErrorEndsSession(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	other := open(t, r, "guest", "guest")
	p := open(t, r, "guest", "guest")
	p.forward(t, stomp.CmdSend, "destination", "/exchange/no-such-exchange/k", "receipt", "r", "body", "x")
	e := p.next(t, stomp.CmdError)
	err := p.waitClosed(t, waitFor)
	var be *BrokerError
	if !errors.As(err, &be) || be.Frame.Header.Get(stomp.HdrMessage) != e.Header.Get(stomp.HdrMessage) {
		t.Fatalf("closed with %v, want the *BrokerError of the ERROR delivered (%v)", err, e.Header)
	}
	t.Logf("closed: %v", err)
	other.forward(t, stomp.CmdSend, "destination", "/topic/still", "receipt", "ok", "body", "x")
	other.next(t, stomp.CmdReceipt)
}

// TestConcurrentForward: frames forwarded from several goroutines all
// arrive, each goroutine's in its order.
func TestConcurrentForward(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	sub := open(t, r, "guest", "guest")
	sub.subscribe(t, "s", "/queue/concurrent")
	pub := open(t, r, "guest", "guest")
	const senders, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				f := &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{
					{Key: "destination", Value: "/queue/concurrent"},
					{Key: "x-g", Value: strconv.Itoa(g)}, {Key: "x-i", Value: strconv.Itoa(i)},
				}}
				if err := pub.Forward(context.Background(), f); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := make([]int, senders)
	for range senders * each {
		m := sub.next(t, stomp.CmdMessage)
		g, _ := strconv.Atoi(m.Header.Get("x-g"))
		i, _ := strconv.Atoi(m.Header.Get("x-i"))
		if i != next[g] {
			t.Fatalf("sender %d: message %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
	}
}

// TestCloseFromDeliver: a session closed from its own deliver callback (as
// a server does on a broker ERROR) does not deadlock, and the relay's Close
// then waits for its reader.
func TestCloseFromDeliver(t *testing.T) {
	b := needBroker(t)
	r, err := New(testOptions(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	var s RelaySession
	ready := make(chan struct{})
	closedIn := make(chan error, 1)
	s, err = r.Open(ctx, "guest", "guest", func(f *stomp.Frame) {
		<-ready
		closedIn <- s.Close()
	}, func(err error) { t.Errorf("closed called after Close: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	if err := s.Forward(ctx, &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{{Key: "destination", Value: "/topic/x"}, {Key: "receipt", Value: "r"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closedIn:
		if err != nil {
			t.Fatalf("Close from deliver: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close from deliver did not return")
	}
}

// TestManyHeaders: a SEND with as many headers as a STOMP server accepts
// comes back as a MESSAGE with the broker's headers added, and the relay
// reads it.
func TestManyHeaders(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	p := open(t, r, "guest", "guest")
	p.subscribe(t, "s", "/topic/headers")
	kv := []string{"destination", "/topic/headers"}
	for i := len(kv) / 2; i < stomp.DefaultMaxHeaders; i++ {
		kv = append(kv, "x-h"+strconv.Itoa(i), "v")
	}
	p.forward(t, stomp.CmdSend, kv...)
	m := p.next(t, stomp.CmdMessage)
	if len(m.Header) <= stomp.DefaultMaxHeaders {
		t.Fatalf("MESSAGE has %d headers; the test wants more than %d", len(m.Header), stomp.DefaultMaxHeaders)
	}
}
