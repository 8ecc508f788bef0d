package sockjs

import (
	"context"
	"fmt"
	"sync"

	"github.com/sockline/sockline/session"
)

// shutdownClose is the close every session gets from Shutdown.
func shutdownClose() *session.CloseError {
	return &session.CloseError{Code: 1001, Reason: "Server is shutting down", Cause: session.ErrServerClosed}
}

// Shutdown ends the handler gracefully: it refuses new sessions (503),
// closes every session with 1001 "Server is shutting down", and waits until
// every application handler has returned and every request serving a
// session has ended, so that each receiving connection (a streaming
// response, a waiting poll, a websocket, which then gets a proper close
// frame) has been sent its close frame and finished. Then it forgets every
// session and stops the handler's timers. It returns nil, or when ctx ends
// first an error wrapping ctx.Err(); either way it starts no goroutine and
// leaves none of its own behind (an application handler that ignores its
// session's end is the application's).
//
// Call it before http.Server.Shutdown, or from srv.RegisterOnShutdown, never
// after: Server.Shutdown waits for active responses, and a streaming
// response ends only when Handler.Shutdown closes its session, so calling
// Server.Shutdown first always runs out its context. Server.Shutdown also
// ignores hijacked connections (websockets); this Shutdown waits for them.
//
//	srv := &http.Server{Addr: addr, Handler: mux}
//	// on SIGTERM:
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	_ = h.Shutdown(ctx)   // sessions get c[1001,"Server is shutting down"]
//	_ = srv.Shutdown(ctx) // then idle connections close at once
//
// A polling client that is between two polls at that moment gets its close
// frame only if its next poll arrives before the server stops accepting
// requests; otherwise sockjs-client reports the connection lost.
//
// Shutdown must not be called from a session handler, which it would wait
// for. Calling it again waits again and returns.
func (h *Handler) Shutdown(ctx context.Context) error {
	if h.cl != nil {
		h.cl.beginDrain()
		// After the sessions are forgotten (which releases them in the
		// store), or at once if ctx ends first.
		defer h.cl.close(ctx)
	}
	h.mu.Lock()
	h.shutdown = true
	h.mu.Unlock()
	h.forEach(func(s *session.Session) bool {
		_ = s.CloseWith(shutdownClose())
		return true
	})
	err := h.running.Wait(ctx)
	what := "session handlers"
	if err == nil {
		err, what = h.requests.Wait(ctx), "requests"
	}
	// Forget every session now rather than after the disconnect delay, so
	// that no timer outlives the handler, also when ctx ended first: every
	// session is closed, so requests still running end on their own (their
	// writes are bounded by WriteTimeout).
	h.forEach(func(s *session.Session) bool {
		s.Expire(shutdownClose())
		h.registry.Delete(s)
		return true
	})
	h.mu.Lock()
	clear(h.conns)
	h.mu.Unlock()
	h.stop()
	if err != nil {
		return fmt.Errorf("sockjs: shutdown: %s still running (give Shutdown a longer context): %w", what, err)
	}
	return nil
}

// activity counts work that Shutdown waits for. Unlike sync.WaitGroup it may
// grow from zero while Shutdown waits (a request for an existing session
// comes in), and Wait takes a context and starts no goroutine, so nothing
// is left waiting when the context ends first.
type activity struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // made by a waiter, closed when n drops to zero
}

// Add adds delta to the count.
func (a *activity) Add(delta int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += delta
	if a.n < 0 {
		panic("sockjs: activity count below zero")
	}
	if a.n == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

// Done subtracts one.
func (a *activity) Done() { a.Add(-1) }

// Wait returns nil once the count is zero, or ctx's error if ctx ends first.
func (a *activity) Wait(ctx context.Context) error {
	a.mu.Lock()
	if a.n == 0 {
		a.mu.Unlock()
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
