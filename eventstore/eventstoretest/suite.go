// Package eventstoretest is the conformance suite every eventstore.Store
// implementation must pass (DESIGN.md §5).
//
// An implementation runs it from a test named TestConformance:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
//			s := memory.New(eventstore.Options{})
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// so `go test -v -run Conformance ./eventstore/...` lists every case, for
// example TestConformance/AppendExpectedNoStream.
//
// The suite works against a shared, non-empty store (such as a real
// EventStoreDB server holding other data and system events): every case
// writes only to streams under its own random prefix, reads the global log
// only after a position captured with Head or filtered by its prefix, and
// never assumes positions are dense.
package eventstoretest

import (
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Factory returns a fresh store for one test case. The factory registers its
// own cleanup (typically Close) with t.Cleanup; the suite never closes a store
// it did not explicitly test closing, and closing twice must be harmless.
// The store must use the default per-event byte limit
// (eventstore.DefaultMaxEventBytes).
type Factory func(t testing.TB) eventstore.Store

// Load sizes the case where many writers append while a subscriber runs.
type Load struct {
	// Writers is the number of concurrent writers.
	Writers int
	// EventsPerWriter is the number of single-event appends each writer makes.
	EventsPerWriter int
	// Timeout bounds the whole case; it is shortened to end before the test
	// binary's -timeout deadline so the failure names the case.
	Timeout time.Duration
	// Stall fails the case when neither an append completes nor an event is
	// delivered for this long.
	Stall time.Duration
}

// DefaultLoad is the load Run uses: 8 writers x 2,000 appends.
var DefaultLoad = Load{Writers: 8, EventsPerWriter: 2000, Timeout: 8 * time.Minute, Stall: time.Minute}

// Options tune the suite for one implementation.
type Options struct {
	// Load sizes the concurrent-writers case; zero fields take DefaultLoad's.
	Load Load
	// Wait bounds how long a case waits for an expected event or for a
	// subscription to end; 0 means 10 s.
	Wait time.Duration
}

func (o Options) withDefaults() Options {
	if o.Load.Writers <= 0 {
		o.Load.Writers = DefaultLoad.Writers
	}
	if o.Load.EventsPerWriter <= 0 {
		o.Load.EventsPerWriter = DefaultLoad.EventsPerWriter
	}
	if o.Load.Timeout <= 0 {
		o.Load.Timeout = DefaultLoad.Timeout
	}
	if o.Load.Stall <= 0 {
		o.Load.Stall = DefaultLoad.Stall
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	return o
}

// Run runs every conformance case against stores made by newStore, each as a
// subtest of t, with DefaultLoad.
func Run(t *testing.T, newStore Factory) {
	RunWith(t, newStore, Options{})
}

// RunWith is Run with options.
func RunWith(t *testing.T, newStore Factory, opts Options) {
	s := &suite{newStore: newStore, opts: opts.withDefaults()}
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"ReadMissingStream", s.testReadMissingStream},
		{"AppendExpectedAny", s.testAppendExpectedAny},
		{"AppendExpectedNoStream", s.testAppendExpectedNoStream},
		{"AppendExpectedStreamExists", s.testAppendExpectedStreamExists},
		{"AppendExpectedExact", s.testAppendExpectedExact},
		{"ConcurrentAppendsOneWinner", s.testConcurrentAppendsOneWinner},
		{"IdempotentAppend", s.testIdempotentAppend},
		{"ReadStreamForwards", s.testReadStreamForwards},
		{"ReadStreamBackwards", s.testReadStreamBackwards},
		{"ReadAllAfterPosition", s.testReadAllAfterPosition},
		{"ReadAllLimit", s.testReadAllLimit},
		{"ReadAllStreamPrefixes", s.testReadAllStreamPrefixes},
		{"SubscribeAllFilter", s.testSubscribeAllFilter},
		{"SubscribeResume", s.testSubscribeResume},
		{"SubscribeLiveAfterCatchUp", s.testSubscribeLiveAfterCatchUp},
		{"ConcurrentWritersWithSubscriber", s.testConcurrentWritersWithSubscriber},
		{"Head", s.testHead},
		{"InvalidEvents", s.testInvalidEvents},
		{"EventTooLarge", s.testEventTooLarge},
		{"InvalidStreamNames", s.testInvalidStreamNames},
		{"AllOrNothing", s.testAllOrNothing},
		{"CancelledContext", s.testCancelledContext},
		{"SubscriptionClose", s.testSubscriptionClose},
		{"SubscriptionContextCancel", s.testSubscriptionContextCancel},
		{"StoreClose", s.testStoreClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

type suite struct {
	newStore Factory
	opts     Options
}
