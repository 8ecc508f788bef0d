package relay

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/sockline/sockline/internal/testrabbit"
)

// The RabbitMQ node the package's tests share (a node takes 6-10 s to
// start): started by the first test that needs it, so that fuzzing and
// runs of other tests do not pay for it, and stopped by TestMain.
var (
	brokerOnce sync.Once
	broker     *testrabbit.Server
	brokerErr  error
)

// TestMain runs the tests, stops the shared node and its epmd, and fails if
// any goroutine is left running.
func TestMain(m *testing.M) {
	code := m.Run()
	if broker != nil {
		broker.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needBroker returns the shared node, starting it if needed. It skips t when
// rabbitmq-server is not installed and $CI is unset, and fails it otherwise.
func needBroker(t testing.TB) *testrabbit.Server {
	t.Helper()
	brokerOnce.Do(func() { broker, brokerErr = testrabbit.Start() })
	switch {
	case errors.Is(brokerErr, testrabbit.ErrNotInstalled) && os.Getenv("CI") == "":
		t.Skipf("no RabbitMQ for the relay tests (set CI to make this a failure): %v", brokerErr)
	case brokerErr != nil:
		t.Fatal(brokerErr)
	}
	return broker
}
