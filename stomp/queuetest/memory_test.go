package queuetest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sockline/sockline/stomp"
	"github.com/sockline/sockline/stomp/queuetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryConformance(t *testing.T) {
	shared := map[*testing.T]*queuetest.Memory{}
	queuetest.Run(t, func(t *testing.T) stomp.QueueStore {
		if shared[t] == nil {
			shared[t] = queuetest.NewMemory()
		}
		return shared[t]
	})
}
