package scheduler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
	"github.com/palimpsest-cms/palimpsest/scheduler"
)

// clock is a settable fake clock shared by the commands handler and the schedulers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// countingPublisher records which scheduler called PublishDue.
type countingPublisher struct {
	scheduler.Publisher
	calls atomic.Int64
}

func (p *countingPublisher) PublishDue(ctx context.Context, m commands.Meta, postID string, now time.Time) (commands.Result, error) {
	p.calls.Add(1)
	return p.Publisher.PublishDue(ctx, m, postID, now)
}

type env struct {
	pool  *pgxpool.Pool
	store eventstore.Store
	clock *clock
}

func setup(t *testing.T, start time.Time) *env {
	t.Helper()
	ctx := context.Background()
	pool, dsn := pgtest.NewPool(t)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate read models: %v", err)
	}
	store, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c := &clock{}
	c.Set(start)
	return &env{pool: pool, store: store, clock: c}
}

// handler returns a commands handler on the shared store, as a separate
// process would have.
func (e *env) handler(t *testing.T) *commands.Handler {
	t.Helper()
	h, err := commands.New(commands.Config{Store: e.store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params()), Now: e.clock.Now})
	if err != nil {
		t.Fatalf("new commands handler: %v", err)
	}
	return h
}

// schedulePost drafts and schedules a post for at and writes its row into
// the posts read table, standing in for the posts projection.
func (e *env) schedulePost(t *testing.T, h *commands.Handler, title string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	editor := commands.Meta{Actor: domain.Actor{ID: uuid.NewString(), Role: domain.RoleEditor}, CorrelationID: uuid.NewString()}
	res, err := h.DraftPost(ctx, editor, commands.DraftPost{Title: title, Body: "Body of " + title, Excerpt: "About " + title})
	if err != nil {
		t.Fatalf("draft post: %v", err)
	}
	res, err = h.SchedulePost(ctx, editor, commands.SchedulePost{PostID: res.ID, ExpectedVersion: res.Version, PublishAt: at})
	if err != nil {
		t.Fatalf("schedule post: %v", err)
	}
	now := e.clock.Now()
	_, err = e.pool.Exec(ctx, `INSERT INTO posts (id, slug, title, body, excerpt, status, author_id, version, revision,
		created_at, updated_at, scheduled_for, last_position)
		VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, $7, 1, $8, $8, $9, $10)`,
		res.ID, res.Slug, title, "Body of "+title, "About "+title, editor.Actor.ID, int64(res.Version), now, at, int64(res.Position))
	if err != nil {
		t.Fatalf("insert posts row: %v", err)
	}
	return res.ID
}

// published returns the PostPublished events of a post's stream.
func (e *env) published(t *testing.T, postID string) []eventstore.RecordedEvent {
	t.Helper()
	events, err := e.store.ReadStream(context.Background(), "post-"+postID, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	var out []eventstore.RecordedEvent
	for _, ev := range events {
		if ev.Type == domain.EventPostPublished {
			out = append(out, ev)
		}
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	pool := &pgxpool.Pool{}
	pub := &countingPublisher{}
	tests := []struct {
		name    string
		cfg     scheduler.Config
		wantErr bool
	}{
		{name: "ok", cfg: scheduler.Config{Pool: pool, Publisher: pub}},
		{name: "no pool", cfg: scheduler.Config{Publisher: pub}, wantErr: true},
		{name: "no publisher", cfg: scheduler.Config{Pool: pool}, wantErr: true},
		{name: "negative interval", cfg: scheduler.Config{Pool: pool, Publisher: pub, Interval: -time.Second}, wantErr: true},
		{name: "negative retry", cfg: scheduler.Config{Pool: pool, Publisher: pub, RetryInterval: -time.Second}, wantErr: true},
		{name: "negative batch", cfg: scheduler.Config{Pool: pool, Publisher: pub, BatchSize: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if _, nerr := scheduler.New(tt.cfg); (nerr != nil) != tt.wantErr {
				t.Fatalf("New() error = %v, want error %v", nerr, tt.wantErr)
			}
		})
	}
}

// TestDuePostPublishedOnceByTwoSchedulers runs two schedulers, as two
// processes would, against one database: the due post is published exactly
// once, the future one not at all, only the leader works, and when the
// leader stops the other takes over.
func TestDuePostPublishedOnceByTwoSchedulers(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e := setup(t, t0)
	h1, h2 := e.handler(t), e.handler(t)
	due := e.schedulePost(t, h1, "Due post", t0.Add(time.Hour))
	later := e.schedulePost(t, h1, "Later post", t0.Add(3*time.Hour))
	e.clock.Set(t0.Add(2 * time.Hour)) // the first post's time has passed

	pubs := []*countingPublisher{{Publisher: h1}, {Publisher: h2}}
	scheds := make([]*scheduler.Scheduler, 2)
	cancels := make([]context.CancelFunc, 2)
	done := make([]chan error, 2)
	for i := range scheds {
		s, err := scheduler.New(scheduler.Config{
			Pool: e.pool, Publisher: pubs[i], Interval: 20 * time.Millisecond, RetryInterval: 20 * time.Millisecond,
			Now: e.clock.Now, Logger: quietLogger(),
		})
		if err != nil {
			t.Fatalf("new scheduler: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		scheds[i], cancels[i], done[i] = s, cancel, make(chan error, 1)
		go func() { done[i] <- s.Run(ctx) }()
	}
	defer func() {
		for i := range cancels {
			cancels[i]()
		}
	}()

	waitFor(t, 10*time.Second, "the due post to be published", func() bool { return len(e.published(t, due)) > 0 })
	// Let both schedulers tick many more times: the read table still says
	// "scheduled" (no projection runs here), so PublishDue keeps being called.
	waitFor(t, 10*time.Second, "more ticks", func() bool { return pubs[0].calls.Load()+pubs[1].calls.Load() >= 10 })

	if n := len(e.published(t, due)); n != 1 {
		t.Fatalf("due post has %d PostPublished events, want exactly 1", n)
	}
	if n := len(e.published(t, later)); n != 0 {
		t.Fatalf("future post has %d PostPublished events, want 0", n)
	}
	var md domain.Metadata
	ev := e.published(t, due)[0]
	if err := json.Unmarshal(ev.Metadata, &md); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if md.ActorID != domain.SystemActor.ID || md.CorrelationID == "" {
		t.Fatalf("published by %q with correlation %q, want the system actor and a correlation id", md.ActorID, md.CorrelationID)
	}

	leader := -1
	for i, s := range scheds {
		if s.IsLeader() {
			if leader >= 0 {
				t.Fatal("both schedulers are leaders")
			}
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no scheduler is leader")
	}
	follower := 1 - leader
	if c := pubs[follower].calls.Load(); c != 0 {
		t.Fatalf("the follower called PublishDue %d times, want 0", c)
	}

	// Failover: stop the leader; the follower takes over and publishes the
	// second post once its time comes.
	cancels[leader]()
	select {
	case err := <-done[leader]:
		if err != nil {
			t.Fatalf("stopped scheduler returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leader did not stop")
	}
	waitFor(t, 5*time.Second, "the follower to take over", scheds[follower].IsLeader)
	e.clock.Set(t0.Add(4 * time.Hour))
	waitFor(t, 10*time.Second, "the later post to be published", func() bool { return len(e.published(t, later)) > 0 })
	if n := len(e.published(t, due)); n != 1 {
		t.Fatalf("due post has %d PostPublished events after failover, want 1", n)
	}
	if n := len(e.published(t, later)); n != 1 {
		t.Fatalf("later post has %d PostPublished events, want 1", n)
	}
}

// TestWakesAtNextScheduledTime checks that the leader wakes at a post's
// scheduled time even when the tick interval is much longer.
func TestWakesAtNextScheduledTime(t *testing.T) {
	e := setup(t, time.Now()) // the fake clock only dates the posts row
	h, err := commands.New(commands.Config{Store: e.store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params())})
	if err != nil {
		t.Fatalf("new commands handler: %v", err)
	}
	at := time.Now().Add(1500 * time.Millisecond)
	id := e.schedulePost(t, h, "Soon", at)

	s, err := scheduler.New(scheduler.Config{Pool: e.pool, Publisher: h, Interval: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("new scheduler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()

	waitFor(t, 5*time.Second, "the post to be published", func() bool { return len(e.published(t, id)) > 0 })
	published := time.Now()
	if published.Before(at) {
		t.Fatalf("published at %v, before its time %v", published, at)
	}
	if late := published.Sub(at); late > time.Second {
		t.Fatalf("published %v after its time, want well under the 1 h interval", late)
	}
}
