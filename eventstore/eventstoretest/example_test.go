package eventstoretest_test

import (
	"testing"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/eventstoretest"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

// An implementation runs the suite from a test named TestConformance in its
// own package; the factory gives every case a fresh store and registers its
// cleanup.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
			s := memory.New(eventstore.Options{})
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	}
	_ = testConformance
}

// A slow store (for example a real EventStoreDB server across a network) can
// keep the default load but allow more time.
func ExampleRunWith() {
	testConformance := func(t *testing.T) {
		load := eventstoretest.DefaultLoad
		load.Timeout *= 2
		eventstoretest.RunWith(t, func(t testing.TB) eventstore.Store {
			s := memory.New(eventstore.Options{})
			t.Cleanup(func() { _ = s.Close() })
			return s
		}, eventstoretest.Options{Load: load})
	}
	_ = testConformance
}
