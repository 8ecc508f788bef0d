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
		{Node: "a", Prefix: "app{1}:"}, // the store's hash tags must come first
	} {
		if _, err := NewStore(nil, o); err == nil {
			t.Errorf("NewStore(%+v) accepted", o)
		}
	}
}

// Every key of one session, or of one node with its group's marker and
// recovering flag, hashes to one Redis Cluster slot: what each script
// touches.
func TestScriptKeysShareASlot(t *testing.T) {
	s, err := NewStore(nil, StoreOptions{Node: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "sess-42", "{odd}", "x}y{z", s.Node()} {
		sets := [][]string{
			s.gateKeys(s.sessKey(id), id),
			{s.nodeKey(id), s.markerKey(group(id)), s.recoveringKey(group(id)), s.fenceKey(id)},
		}
		for _, keys := range sets {
			for _, k := range keys[1:] {
				if slot(k) != slot(keys[0]) {
					t.Errorf("%q and %q are in slots %d and %d", keys[0], k, slot(keys[0]), slot(k))
				}
			}
		}
	}
}
