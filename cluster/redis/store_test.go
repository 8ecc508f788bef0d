package redis

import (
	"testing"
	"time"
)

// The Store's conformance to cluster.Store runs in package clustertest's
// suite (suite_test.go); here only what is this Store's own.

func TestNewStoreValidates(t *testing.T) {
	for _, o := range []StoreOptions{
		{},
		{Node: "a", Lease: -time.Second},
		{Node: "a", Lease: time.Minute, Tombstone: time.Second},
	} {
		if _, err := NewStore(nil, o); err == nil {
			t.Errorf("NewStore(%+v) accepted", o)
		}
	}
}
