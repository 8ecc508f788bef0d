package transports

import (
	"errors"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

func awaitReady(t *testing.T, ready <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatalf("onReady did not run after %s", what)
	}
}

func TestPollWatchRunsOnceReadableThenOnHangUp(t *testing.T) {
	server, client := tcpPair(t)
	ready := make(chan struct{}, 1)
	w := newPollWatch(server, func() { ready <- struct{}{} })
	if w == nil {
		t.Fatal("newPollWatch: nil for a TCP connection on linux")
	}
	if err := w.arm(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("xyz")); err != nil {
		t.Fatal(err)
	}
	awaitReady(t, ready, "the peer wrote")
	var b [8]byte
	n, wait, err := w.readNow(b[:])
	if n != 3 || wait || err != nil {
		t.Fatalf("readNow = %d, %v, %v: want the 3 bytes written", n, wait, err)
	}
	if _, wait, err = w.readNow(b[:]); !wait || err != nil {
		t.Fatalf("readNow with nothing sent = wait %v, %v: want wait", wait, err)
	}
	if err := w.arm(); err != nil {
		t.Fatal(err)
	}
	_ = client.Close()
	awaitReady(t, ready, "the peer closed")
	if _, _, err = w.readNow(b[:]); !errors.Is(err, errEOF) {
		t.Fatalf("readNow after the peer closed: %v, want errEOF", err)
	}
	if w.forget() {
		t.Fatal("forget after onReady ran: true, want false (onReady had it)")
	}
}

func TestPollWatchForgetTakesAnArmedWatch(t *testing.T) {
	server, _ := tcpPair(t)
	ran := make(chan struct{}, 1)
	w := newPollWatch(server, func() { ran <- struct{}{} })
	if err := w.arm(); err != nil {
		t.Fatal(err)
	}
	_ = server.Close()
	if !w.forget() {
		t.Fatal("forget of an armed watch: false, want true")
	}
	if err := w.arm(); err == nil {
		t.Fatal("arm on a closed connection: nil error")
	}
	select {
	case <-ran:
		t.Fatal("onReady ran for a forgotten watch")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPollWatchIsNilWithoutDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if w := newPollWatch(a, func() {}); w != nil {
		t.Fatal("newPollWatch(net.Pipe end) != nil: want the goroutine fallback")
	}
}
