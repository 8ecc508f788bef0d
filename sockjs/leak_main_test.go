package sockjs_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left running once
// they are done: the project's standard leak check (see README, Writing
// tests). Ignore a goroutine only with a comment saying why it is not ours
// to stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// verifyNoGoroutineLeft is goleak.VerifyNone, but gives goroutines that
// are ending up to 10 s to be gone first: VerifyNone itself waits about
// 0.4 s, which a loaded machine can take to schedule a goroutine's last
// steps. A goroutine that never ends still fails the test.
func verifyNoGoroutineLeft(t *testing.T, opts ...goleak.Option) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if goleak.Find(opts...) == nil {
			break
		}
	}
	goleak.VerifyNone(t, opts...)
}
