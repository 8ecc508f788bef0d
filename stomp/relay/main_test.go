package relay

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sockline/sockline/internal/testrabbit"
)

// broker is the RabbitMQ node the package's tests share (a node takes 6-10 s
// to start); nil when rabbitmq-server is absent outside CI.
var broker *testrabbit.Server

// noBroker says why broker is nil.
var noBroker error

// TestMain starts the shared node, runs the tests, stops the node and its
// epmd, and fails if any goroutine is left running.
func TestMain(m *testing.M) {
	var err error
	broker, err = testrabbit.Start()
	switch {
	case errors.Is(err, testrabbit.ErrNotInstalled) && os.Getenv("CI") == "":
		noBroker = err
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
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

// needBroker skips t when there is no RabbitMQ outside CI.
func needBroker(t testing.TB) *testrabbit.Server {
	t.Helper()
	if broker == nil {
		t.Skipf("no RabbitMQ for the relay tests: %v", noBroker)
	}
	return broker
}
