package commands

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// clock is a manual test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// storeKinds are the stores the command tests run against.
var storeKinds = []struct {
	name string
	open func(t testing.TB) eventstore.Store
}{
	{"memory", func(t testing.TB) eventstore.Store {
		s := memory.New(eventstore.Options{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) eventstore.Store {
		dsn := pgtest.NewDatabase(t)
		s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
		if err != nil {
			t.Fatalf("open postgres event store: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// forEachStore runs fn once per store kind, in parallel subtests.
func forEachStore(t *testing.T, fn func(t *testing.T, store eventstore.Store)) {
	t.Helper()
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			fn(t, k.open(t))
		})
	}
}

func newHandler(t testing.TB, store eventstore.Store, clk *clock) *Handler {
	t.Helper()
	h, err := New(Config{Store: store, Hasher: NewArgon2idHasher(TestArgon2Params()), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var (
	authorA = domain.Actor{ID: "0190a000-0000-7000-8000-00000000000a", Role: domain.RoleAuthor}
	authorB = domain.Actor{ID: "0190a000-0000-7000-8000-00000000000b", Role: domain.RoleAuthor}
	editor  = domain.Actor{ID: "0190a000-0000-7000-8000-00000000000e", Role: domain.RoleEditor}
	auditor = domain.Actor{ID: "0190a000-0000-7000-8000-0000000000a0", Role: domain.RoleAuditor}
	reader  = domain.Actor{ID: "0190a000-0000-7000-8000-0000000000f0", Role: domain.RoleReader}
)

func meta(a domain.Actor) Meta {
	suffix := a.ID
	if len(suffix) > 2 {
		suffix = suffix[len(suffix)-2:]
	}
	return Meta{Actor: a, CorrelationID: "req-" + suffix, CausationID: "cause-1"}
}

// wantCode fails t unless err is a *domain.Error of kind and code.
func wantCode(t *testing.T, err error, kind domain.Kind, code string) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != kind || de.Code != code {
		t.Fatalf("err = %v, want %s/%s", err, kind, code)
	}
	return de
}

// must returns a function that fails t on an error and returns the result.
func must(t *testing.T) func(Result, error) Result {
	return func(res Result, err error) Result {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return res
	}
}

// rawEvents reads a stream from the store.
func rawEvents(t *testing.T, store eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return recs
}

func metadataOf(t *testing.T, rec eventstore.RecordedEvent) domain.Metadata {
	t.Helper()
	var md domain.Metadata
	if err := json.Unmarshal(rec.Metadata, &md); err != nil {
		t.Fatal(err)
	}
	return md
}

// faultStore wraps a store and fails appends to streams chosen by failAppend.
type faultStore struct {
	eventstore.Store
	mu         sync.Mutex
	failAppend func(stream string) error
}

func (f *faultStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	f.mu.Lock()
	fail := f.failAppend
	f.mu.Unlock()
	if fail != nil {
		if err := fail(stream); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return f.Store.Append(ctx, stream, expected, events...)
}

func (f *faultStore) setFail(fn func(stream string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAppend = fn
}
