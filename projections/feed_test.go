package projections

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

func postEditedRecord(t *testing.T, pos eventstore.Position, data string) eventstore.RecordedEvent {
	t.Helper()
	return eventstore.RecordedEvent{
		ID: uuid.New(), StreamID: domain.PostStreamPrefix + uuid.NewString(), Version: 2, Position: pos,
		Type: domain.EventPostEdited, RecordedAt: time.Now(), Data: []byte(data),
		Metadata: []byte(`{"actor_id":"u1","schema":1}`),
	}
}

func TestLogEntryDecodesOnceForEveryReader(t *testing.T) {
	t.Parallel()
	e := newLogEntry(postEditedRecord(t, 7, `{"title":"T","body":"B","revision":3}`))
	var wg sync.WaitGroup
	payloads := make([]domain.Event, 8)
	for i := range payloads {
		wg.Go(func() {
			ev, err := e.event(true)
			if err != nil {
				t.Errorf("event: %v", err)
			}
			payloads[i] = ev.Payload
		})
	}
	wg.Wait()
	edited, ok := payloads[0].(domain.PostEdited)
	if !ok || edited.Title != "T" || edited.Revision != 3 {
		t.Fatalf("payload = %#v", payloads[0])
	}
	for _, p := range payloads[1:] {
		if p.(domain.PostEdited).Title != "T" {
			t.Fatalf("readers decoded differently: %#v", p)
		}
	}
	env, err := e.event(false)
	if err != nil || env.Payload != nil || env.Metadata.ActorID != "u1" || env.Position != 7 || string(env.Data) == "" {
		t.Fatalf("envelope-only event = %+v, %v", env, err)
	}
	// Decode (the exported entry point) agrees.
	dec, err := Decode(e.rec)
	if err != nil || dec.Payload.(domain.PostEdited).Body != "B" {
		t.Fatalf("Decode = %+v, %v", dec, err)
	}
}

func TestLogEntryCorruptPayloadFailsOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	e := newLogEntry(postEditedRecord(t, 9, `{"title":5}`))
	if _, err := e.event(false); err != nil {
		t.Fatalf("envelope of a corrupt payload: %v", err)
	}
	_, err := e.event(true)
	if err == nil || !strings.Contains(err.Error(), "decode event") {
		t.Fatalf("payload of a corrupt event: err = %v", err)
	}
	// Every later reader gets the same error, not a nil payload.
	if _, err2 := e.event(true); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second read: %v, want %v", err2, err)
	}
	bad := newLogEntry(eventstore.RecordedEvent{ID: uuid.New(), Position: 1, Type: "PostEdited", Metadata: []byte(`{`)})
	if _, err := bad.event(false); err == nil {
		t.Fatal("corrupt metadata decoded")
	}
}

func TestFeedRingDropsOldestAndReportsCoverage(t *testing.T) {
	t.Parallel()
	store := memory.New(eventstore.Options{})
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	f := newFeed(ctx, store, 4, discard(), &wg)
	defer func() { cancel(); wg.Wait() }()
	if f.covers(0) {
		t.Fatal("a feed that never started covers positions")
	}
	appendEvents(t, store, []string{"s-1"}, 2) // before the start: not in the feed
	if err := f.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if f.covers(1) || !f.covers(2) {
		t.Fatal("feed must cover exactly the positions from the head it started at")
	}
	last := appendEvents(t, store, []string{"s-1"}, 6) // positions 3..8
	eventually(t, 5*time.Second, "feed at head", func() bool {
		got, _, _ := f.read(last-1, nil, 10)
		return len(got) == 1
	})
	// The ring holds the newest 4 (5..8): positions from 4 on are covered.
	if f.covers(3) || !f.covers(4) {
		t.Fatal("ring of 4 must cover positions 4 and later only")
	}
	got, covered, _ := f.read(4, nil, 10)
	if !covered || len(got) != 4 || got[0].rec.Position != 5 || got[3].rec.Position != 8 {
		t.Fatalf("read after 4 = %d entries (covered %v)", len(got), covered)
	}
	got, _, _ = f.read(5, nil, 2)
	if len(got) != 2 || got[0].rec.Position != 6 || got[1].rec.Position != 7 {
		t.Fatal("read must honour max and start after pos")
	}
	src := &feedSource{f: f, pos: 3}
	if _, err := src.next(ctx, nil, 10, 0); !errors.Is(err, errOffFeed) {
		t.Fatalf("reader that fell off the ring: err = %v, want errOffFeed", err)
	}
	// A waiting reader wakes on the next event.
	src = &feedSource{f: f, pos: last}
	done := make(chan []*logEntry, 1)
	go func() {
		got, err := src.next(ctx, nil, 10, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	next := appendEvents(t, store, []string{"s-2"}, 1)
	select {
	case got := <-done:
		if len(got) != 1 || got[0].rec.Position != next {
			t.Fatalf("woken with %d entries", len(got))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting reader not woken")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// envelopeProjection is a test projection that declares it reads envelopes only.
type envelopeProjection struct{ *testProjection }

func (envelopeProjection) Needs(string, string) Need { return NeedEnvelope }

// editsIgnored is a test projection that declares PostEdited events of no use.
type editsIgnored struct{ *testProjection }

func (editsIgnored) Needs(_, eventType string) Need {
	if eventType == domain.EventPostEdited {
		return NeedNothing
	}
	return NeedPayload
}

// TestRunnersAtDifferentPositionsShareTheFeed starts projections at different
// checkpoints with a tiny feed, one of them slow enough to fall off it under
// bursts, and appends while they run: each must end with exactly the events
// after its own start, every one applied once.
func TestRunnersAtDifferentPositionsShareTheFeed(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	streams := append(streamsOf("post-", 4), streamsOf("user-", 2)...)
	base := appendEvents(t, store, streams, 600)

	fromZero := newTestProjection("from_zero_v1", "fz")
	fromMid := newTestProjection("from_mid_v1", "fm", "post-")
	atHead := newTestProjection("at_head_v1", "ah")
	slow := newTestProjection("slow_v1", "sl")
	for _, p := range []*testProjection{fromZero, fromMid, atHead, slow} {
		p.createTables(t, pool)
	}
	var slowCalls atomic.Int64
	var slowed atomic.Bool
	slow.setHook(func(context.Context, Event) error {
		if slowed.Load() && slowCalls.Add(1)%5 == 0 {
			time.Sleep(10 * time.Millisecond) // falls behind a 16-event ring under bursts
		}
		return nil
	})
	starts := map[string]eventstore.Position{fromZero.name: 0, fromMid.name: 300, atHead.name: base, slow.name: base}
	names := []string{fromZero.name, fromMid.name, atHead.name, slow.name}
	if err := ensureCheckpoints(context.Background(), pool, names); err != nil {
		t.Fatal(err)
	}
	for name, pos := range starts {
		if _, err := pool.Exec(context.Background(), "UPDATE projection_checkpoints SET position = $2 WHERE name = $1", name, int64(pos)); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{fromZero, fromMid, atHead, slow}, FeedSize: 16, BatchSize: 25,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	rt, stop := startRuntime(t, cfg)
	w := newWaiter(t, pool)

	// Trickles while the runners catch up and join the feed, then bursts
	// that the slowed runner falls behind on.
	head := base
	for range 10 {
		head = appendEvents(t, store, streams, 2)
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, w, 30*time.Second, head, names...)
	slowed.Store(true)
	for round := range 12 {
		n := 3
		if round%3 == 0 {
			n = 120
		}
		head = appendEvents(t, store, streams, n)
		time.Sleep(15 * time.Millisecond)
	}
	waitFor(t, w, 30*time.Second, head, names...)
	if rt.sub == nil || rt.sub.feed == nil || !rt.sub.feed.covers(head) {
		t.Fatal("the shared feed is not running at the head")
	}
	stop()
	// Both ways between the feed and a runner's own subscription were taken.
	for _, reason := range []string{errOntoFeed.Error(), errOffFeed.Error()} {
		if !strings.Contains(logs.String(), `reason="`+reason+`"`) {
			t.Errorf("no runner switched source because it %s", reason)
		}
	}

	total := int(head) // the memory store's positions are dense from 1
	want := func(p *testProjection) int { return total - int(starts[p.name]) }
	for _, p := range []*testProjection{fromZero, atHead, slow} {
		if got, w := p.rowCount(t, pool), want(p); got != w {
			t.Errorf("%s rows = %d, want %d", p.name, got, w)
		}
		if got := p.calls.Load(); got != int64(want(p)) {
			t.Errorf("%s Apply calls = %d, want %d (each event once)", p.name, got, want(p))
		}
	}
	// fromMid reads post- streams only: count them in the log after 300.
	recs, err := store.ReadAll(context.Background(), eventstore.ReadAllOptions{After: 300, Limit: total})
	if err != nil {
		t.Fatal(err)
	}
	posts := 0
	for _, r := range recs {
		if strings.HasPrefix(r.StreamID, "post-") {
			posts++
		}
	}
	if got := fromMid.rowCount(t, pool); got != posts {
		t.Errorf("%s rows = %d, want %d", fromMid.name, got, posts)
	}
	if got := fromMid.calls.Load(); got != int64(posts) {
		t.Errorf("%s Apply calls = %d, want %d", fromMid.name, got, posts)
	}
	for _, name := range names {
		if c := readCP(t, pool, name); c.Position != head || c.State != storedRunning {
			t.Errorf("%s checkpoint = %d %s, want %d running", name, c.Position, c.State, head)
		}
	}
	// Same rows as a from-scratch rebuild of the projection reading everything.
	live := fromZero.checksum(t, pool)
	if rebuilt := rebuiltChecksum(t, cfg, fromZero); rebuilt != live {
		t.Error("from_zero_v1 differs from a rebuild")
	}
}

// TestCorruptPayloadStopsOnlyProjectionsThatNeedIt: an event whose payload
// does not decode stops the projections that read payloads, at that event,
// while an envelope-only projection and one that ignores the event type go
// on.
func TestCorruptPayloadStopsOnlyProjectionsThatNeedIt(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	needsAll := newTestProjection("needs_payload_v1", "np")
	envelope := envelopeProjection{newTestProjection("envelope_only_v1", "eo")}
	ignoring := editsIgnored{newTestProjection("ignores_edits_v1", "ie")}
	for _, p := range []*testProjection{needsAll, envelope.testProjection, ignoring.testProjection} {
		p.createTables(t, pool)
	}
	before := appendEvents(t, store, []string{"post-a"}, 5)
	res, err := store.Append(context.Background(), "post-a", eventstore.Any, eventstore.EventData{
		ID: uuid.New(), Type: domain.EventPostEdited,
		Data:     []byte(`{"n":99,"title":5}`), // a number where PostEdited has a string
		Metadata: []byte(`{"actor_id":"test","schema":1}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := res.Position
	head := appendEvents(t, store, []string{"post-a"}, 5)
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{needsAll, envelope, ignoring}, MaxRetries: 1}
	startRuntime(t, cfg)
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, envelope.name, ignoring.name)
	eventually(t, 10*time.Second, "needs_payload_v1 failed", func() bool { return readCP(t, pool, needsAll.name).State == storedFailed })

	c := readCP(t, pool, needsAll.name)
	if c.FailedPosition != corrupt || c.Position >= corrupt || !strings.Contains(c.LastError, "decode event") {
		t.Fatalf("needs_payload_v1 checkpoint = %+v, want failed at %d (decode event) below it", c, corrupt)
	}
	if got := needsAll.rowCount(t, pool); got != int(c.Position) || got > int(before) {
		t.Errorf("needs_payload_v1 rows = %d, want its checkpoint %d", got, c.Position)
	}
	if got := envelope.rowCount(t, pool); got != 11 {
		t.Errorf("envelope_only_v1 rows = %d, want all 11 events", got)
	}
	// The TestHappened events reach it; the (ignored) PostEdited does not.
	if got := ignoring.rowCount(t, pool); got != 10 {
		t.Errorf("ignores_edits_v1 rows = %d, want 10", got)
	}
	// events_applied counts every event of its streams it passed, as a
	// rebuild does.
	if c := readCP(t, pool, ignoring.name); c.EventsApplied != 11 {
		t.Errorf("ignores_edits_v1 events_applied = %d, want 11", c.EventsApplied)
	}
}

// TestMediaNeedsNothingOnlyWhereApplyDoesNothing checks Media.Needs against
// Media.Apply: for every event type of a post stream it declares NeedNothing
// for, Apply must return without touching the transaction (nil here).
func TestMediaNeedsNothingOnlyWhereApplyDoesNothing(t *testing.T) {
	t.Parallel()
	types := []string{
		domain.EventPostDrafted, domain.EventPostEdited, domain.EventPostSlugChanged, domain.EventPostSubmittedForReview,
		domain.EventPostChangesRequested, domain.EventPostPublished, domain.EventPostScheduled, domain.EventPostUnpublished,
		domain.EventPostArchived, domain.EventPostDeleted, domain.EventPostRestored, domain.EventPostReverted, "PostFeatureImageSet",
	}
	m := NewMedia()
	stream := domain.PostStreamPrefix + uuid.NewString()
	skipped := 0
	for _, typ := range types {
		if !domain.KnownEventType(typ) {
			t.Fatalf("%s is not a registered event type", typ)
		}
		if m.Needs(stream, typ) != NeedNothing {
			continue
		}
		skipped++
		payload, err := domain.DecodeEvent(typ, 1, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		ev := Event{ID: uuid.New(), StreamID: stream, Version: 2, Position: 10, Type: typ, Payload: payload}
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("Media.Apply(%s) used the transaction although Needs says NeedNothing: %v", typ, v)
				}
			}()
			if err := m.Apply(context.Background(), nil, ev); err != nil {
				t.Errorf("Media.Apply(%s) = %v, want nil", typ, err)
			}
		}()
	}
	if skipped == 0 {
		t.Fatal("Media.Needs skips nothing")
	}
	for _, s := range []string{domain.MediaStreamPrefix + uuid.NewString()} {
		if m.Needs(s, "MediaUploaded") != NeedPayload {
			t.Errorf("media stream events need their payload")
		}
	}
	if (&Audit{}).Needs(stream, domain.EventPostEdited) != NeedEnvelope {
		t.Error("audit must not decode payloads")
	}
}

func TestAdvanceCheckpointDetectsAMovedCheckpoint(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	ctx := context.Background()
	if err := ensureCheckpoints(ctx, pool, []string{"adv_v1"}); err != nil {
		t.Fatal(err)
	}
	conn, err := leadershipConn(ctx, pool, "adv_v1")
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(conn)
	w := newWaiter(t, pool)
	if err := advanceCheckpoint(ctx, conn, "adv_v1", 0, 5, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, 5*time.Second, 5, "adv_v1") // announced
	if err := advanceCheckpoint(ctx, conn, "adv_v1", 3, 9, 1); !errors.Is(err, errCheckpointMoved) {
		t.Fatalf("advance from a stale position: %v, want errCheckpointMoved", err)
	}
	if c := readCP(t, pool, "adv_v1"); c.Position != 5 || c.EventsApplied != 2 {
		t.Fatalf("checkpoint = %d with %d applied, want 5 with 2", c.Position, c.EventsApplied)
	}
}

// A batch transaction moves and announces the checkpoint as it begins, the
// announcement arriving with the commit; it refuses to begin (writing
// nothing) when the checkpoint moved, and a rolled back batch leaves the
// checkpoint where it was.
func TestBatchBeginMovesAndAnnouncesTheCheckpoint(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	ctx := context.Background()
	p := newTestProjection("bat'ch_v1", "unused") // a quote in the name: the literal is escaped
	if err := ensureCheckpoints(ctx, pool, []string{p.Name()}); err != nil {
		t.Fatal(err)
	}
	r := &runner{s: &Subscriber{cfg: SubscriberConfig{Pool: pool}}, p: p}
	w := newWaiter(t, pool)

	tx, err := r.begin(ctx, 0, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c := readCP(t, pool, p.Name()); c.Position != 0 {
		t.Fatalf("uncommitted checkpoint visible: %d", c.Position)
	}
	var syncCommit string
	if err := tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&syncCommit); err != nil || syncCommit != "off" {
		t.Fatalf("batch synchronous_commit = %q (%v), want off", syncCommit, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, 5*time.Second, 5, p.Name()) // announced
	if c := readCP(t, pool, p.Name()); c.Position != 5 || c.EventsApplied != 2 {
		t.Fatalf("checkpoint = %d with %d applied, want 5 with 2", c.Position, c.EventsApplied)
	}

	if _, err := r.begin(ctx, 3, 9, 1); !errors.Is(err, errCheckpointMoved) {
		t.Fatalf("begin from a stale position: %v, want errCheckpointMoved", err)
	}
	tx, err = r.begin(ctx, 5, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if c := readCP(t, pool, p.Name()); c.Position != 5 || c.EventsApplied != 2 {
		t.Fatalf("after a stale begin and a rollback: checkpoint = %d with %d applied, want 5 with 2", c.Position, c.EventsApplied)
	}
}

// A projection that applies none of a stream of live events stores its
// checkpoint past them at most every advanceEvery, not once per batch, and
// stores the last one as soon as the log goes quiet; the events passed are
// counted all the same, and a later batch that applies events moves the
// checkpoint from where it is stored.
func TestPassedEventsAreStoredAtMostEveryAdvanceEvery(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	skip := newTestProjection("skip_v1", "skipp", "user-")
	skip.createTables(t, pool)
	startRuntime(t, Config{Pool: pool, Store: store, Projections: []Projection{skip}})
	w := newWaiter(t, pool)
	waitFor(t, w, 10*time.Second, 0, skip.name)

	listener, err := pgx.Connect(context.Background(), pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(context.Background(), "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	// 300 events the projection does not apply, over about a second.
	start := time.Now()
	var head eventstore.Position
	for range 100 {
		head = appendEvents(t, store, []string{"post-a", "post-b", "post-c"}, 3)
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	waitFor(t, w, 5*time.Second, head, skip.name)

	announced := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		n, err := listener.WaitForNotification(ctx)
		cancel()
		if err != nil {
			break
		}
		if strings.HasPrefix(n.Payload, skip.name+":") {
			announced++
		}
	}
	// One per advanceEvery at most, plus the final one; without the bound it
	// would be about one per append (100 here).
	if most := min(int(took/advanceEvery)+2, 70); announced == 0 || announced > most {
		t.Errorf("checkpoint stored %d times in %v, want 1..%d", announced, took, most)
	}
	if c := readCP(t, pool, skip.name); c.Position != head || c.EventsApplied != 0 {
		t.Errorf("checkpoint %d (%d applied), want %d (0: no event of its streams)", c.Position, c.EventsApplied, head)
	}

	// A user- event is applied by a batch that moves the checkpoint on from
	// wherever it is stored.
	live := appendEvents(t, store, []string{"post-d", "user-x"}, 2)
	waitFor(t, w, 5*time.Second, live, skip.name)
	if got := skip.rowCount(t, pool); got != 1 {
		t.Errorf("rows = %d, want 1", got)
	}
	if c := readCP(t, pool, skip.name); c.Position != live || c.EventsApplied != 1 {
		t.Errorf("checkpoint %d (%d applied), want %d (1)", c.Position, c.EventsApplied, live)
	}
}

// Pacing projections wait longer for one more event only under load; the
// posts projection (no BatchPacing) never does.
func TestBatchIdlePacesOnlyUnderLoad(t *testing.T) {
	for _, c := range []struct {
		p       Projection
		batched time.Duration // ago; 0: never
		want    time.Duration
	}{
		{NewHistory(), 0, batchIdle},
		{NewHistory(), 10 * time.Millisecond, patientIdle},
		{NewSearch(), 50 * time.Millisecond, patientIdle},
		{NewAudit(), time.Second, batchIdle},
		{NewPosts(), 10 * time.Millisecond, batchIdle},
	} {
		r := &runner{p: c.p}
		if c.batched > 0 {
			r.batched = time.Now().Add(-c.batched)
		}
		if got := r.idle(); got != c.want {
			t.Errorf("%s, last batch %v ago: idle %v, want %v", c.p.Name(), c.batched, got, c.want)
		}
	}
	for _, p := range All() {
		_, paces := p.(BatchPacing)
		if paces == (p.Name() == PostsName) {
			t.Errorf("%s: paces = %v; only posts_v1, which makes edits visible, must not", p.Name(), paces)
		}
	}
}

// The fast-path transaction of a memory batcher opens with its first
// statement, in the same round trip: it moves and announces the checkpoint
// then, refuses (writing nothing) when the checkpoint moved, and a rollback
// leaves the checkpoint where it was.
func TestLazyTxOpensWithItsFirstStatement(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE lazy_rows (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	p := newTestProjection("lazy_v1", "unused")
	if err := ensureCheckpoints(ctx, pool, []string{p.Name()}); err != nil {
		t.Fatal(err)
	}
	r := &runner{s: &Subscriber{cfg: SubscriberConfig{Pool: pool}}, p: p}
	w := newWaiter(t, pool)
	rows := func() (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM lazy_rows").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A flush through SendBatch, then COMMIT.
	tx, err := r.lazyBegin(ctx, 0, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue("INSERT INTO lazy_rows VALUES (1)")
	b.Queue("INSERT INTO lazy_rows VALUES (2)")
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	var syncCommit string
	if err := tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&syncCommit); err != nil || syncCommit != "off" {
		t.Fatalf("synchronous_commit = %q (%v), want off", syncCommit, err)
	}
	if rows() != 0 || readCP(t, pool, p.Name()).Position != 0 {
		t.Fatal("uncommitted batch visible")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, 5*time.Second, 5, p.Name())
	if c := readCP(t, pool, p.Name()); c.Position != 5 || c.EventsApplied != 2 || rows() != 2 {
		t.Fatalf("checkpoint %d (%d applied), %d rows; want 5 (2), 2", c.Position, c.EventsApplied, rows())
	}

	// From a stale position: refused at the first statement, nothing written.
	tx, err = r.lazyBegin(ctx, 3, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO lazy_rows VALUES ($1)", 3); !errors.Is(err, errCheckpointMoved) {
		t.Fatalf("stale batch Exec: %v, want errCheckpointMoved", err)
	}
	if !errors.Is(tx.beginErr, errCheckpointMoved) {
		t.Fatalf("beginErr = %v", tx.beginErr)
	}
	if err := tx.Commit(ctx); !errors.Is(err, errCheckpointMoved) {
		t.Fatalf("stale batch Commit: %v, want errCheckpointMoved", err)
	}

	// Rolled back after its first statement: nothing changes.
	tx, err = r.lazyBegin(ctx, 5, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO lazy_rows VALUES ($1)", 4); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Committed without any statement: the opening statements are sent
	// before COMMIT. A savepoint works as in any pgx transaction.
	tx, err = r.lazyBegin(ctx, 5, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Exec(ctx, "INSERT INTO lazy_rows VALUES (5)"); err != nil {
		t.Fatal(err)
	}
	if err := sp.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if c := readCP(t, pool, p.Name()); c.Position != 7 || c.EventsApplied != 2 || rows() != 2 {
		t.Fatalf("checkpoint %d (%d applied), %d rows; want 7 (2), 2", c.Position, c.EventsApplied, rows())
	}
	if _, err := tx.Begin(ctx); err == nil {
		t.Fatal("savepoint on a committed transaction")
	}
	// Every connection went back to the pool idle.
	if st := pool.Stat(); st.AcquiredConns() != 0 {
		t.Fatalf("%d connections still acquired", st.AcquiredConns())
	}
}
