package presence_test

import (
	"testing"

	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/presence/presencetest"
)

func TestMemoryStore(t *testing.T) {
	presencetest.Run(t, func(*testing.T) presence.Store { return presence.NewMemory() })
}
