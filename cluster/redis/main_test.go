package redis_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every node, bus and client the tests start must be gone when they end.
// go-redis's pool probes a server that refused its dials on a goroutine of
// its own (tryDial) that notices its pool closed only after its next
// one-second sleep: not ours to stop, and gone a second later.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
