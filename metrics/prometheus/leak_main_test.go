package prometheus_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left running once
// they are done: the project's standard leak check (see README, Writing
// tests). Ignore a goroutine only with a comment saying why it is not ours
// to stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
