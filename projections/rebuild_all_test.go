package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	espg "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// allTables are the read tables of All() with their keys, tags without the
// rows whose count fell to zero (their presence depends on batching).
var allTables = map[string]string{"posts": "x.id", liveTags: "x.name", "post_revisions": "x.post_id, x.revision",
	"post_history": "x.post_id, x.version", "users": "x.id", "audit_log": "x.position", "media": "x.id",
	"media_post_usage": "x.post_id", "post_search": "x.post_id"}

// allChecksums digests every read table of All().
func allChecksums(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, key := range allTables {
		out[table] = checksum(t, pool, table, key)
	}
	return out
}

// newStoreDB returns a database migrated like `cms migrate` with a
// PostgreSQL event store on it.
func newStoreDB(t *testing.T) (*pgxpool.Pool, *espg.Store) {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store, err := espg.New(ctx, pool, pool.Config().ConnString(), espg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return pool, store
}

// appendLog appends evs to the store as they were recorded (type, data,
// metadata), each event on its own.
func appendLog(t testing.TB, store eventstore.Store, evs []Event) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for _, ev := range evs {
		meta, err := json.Marshal(ev.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		res, err := store.Append(context.Background(), ev.StreamID, eventstore.Any, eventstore.EventData{
			ID: uuid.New(), Type: ev.Type, Data: ev.Data, Metadata: meta})
		if err != nil {
			t.Fatalf("append %s to %s: %v", ev.Type, ev.StreamID, err)
		}
		last = res.Position
	}
	return last
}

// postBurst returns the events of n posts drafted and edited edits times
// each by author, every second one published, with unique slugs from tag.
func postBurst(t *testing.T, tag string, n, edits int) []Event {
	l := newEventLog(t)
	var evs []Event
	for i := range n {
		id := uuid.NewString()
		s := "post-" + id
		body := strings.Repeat("Some *markdown* with a [link](https://example.com) and `code`. ", 20)
		evs = append(evs, l.add(s, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: tag + "-" + strconv.Itoa(i),
			PostContent: content("Post "+strconv.Itoa(i), body, "go", tag), Revision: 1}))
		for r := 2; r <= edits+1; r++ {
			evs = append(evs, l.add(s, editor, domain.PostEdited{PostContent: content("Post "+strconv.Itoa(i), body+"\n\nEdit "+strconv.Itoa(r), "go", tag),
				Note: "edit " + strconv.Itoa(r), Revision: r}))
		}
		if i%2 == 0 {
			evs = append(evs, l.add(s, editor, domain.PostPublished{PublishedAt: l.now}))
		}
	}
	return evs
}

// indexNames lists the indexes of the read tables of All().
func indexNames(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var tables []string
	for _, p := range All() {
		tables = append(tables, p.Tables()...)
	}
	rows, err := pool.Query(context.Background(), `SELECT tablename || '.' || indexname || ' ' || replace(indexdef, indexname, '')
		FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY 1`, tables)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRebuildAllInOnePassEqualsLive(t *testing.T) {
	t.Parallel()
	pool, store := newStoreDB(t)
	evs := append(fullLog(t), postBurst(t, "burst", 12, 9)...)
	head := appendLog(t, store, evs)
	indexesBefore := indexNames(t, pool)

	cfg := Config{Pool: pool, Store: store, Projections: All(), BatchSize: 7}
	_, stop := startRuntime(t, cfg)
	w := newWaiter(t, pool)
	names := make([]string, 0, len(cfg.Projections))
	for _, p := range cfg.Projections {
		names = append(names, p.Name())
	}
	waitFor(t, w, 30*time.Second, head, names...)
	stop()
	live := allChecksums(t, pool)
	liveCP := map[string]uint64{}
	for _, n := range names {
		liveCP[n] = readCP(t, pool, n).EventsApplied
	}

	var mu sync.Mutex
	var calls [][2]uint64
	err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projections: All(), BatchSize: 13,
		Logger: testLogger(t), Progress: func(done, total uint64) {
			mu.Lock()
			calls = append(calls, [2]uint64{done, total})
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for table, sum := range allChecksums(t, pool) {
		if sum != live[table] {
			t.Errorf("%s after the one-pass rebuild differs from the live projection", table)
		}
	}
	for _, n := range names {
		c := readCP(t, pool, n)
		if c.Position != head || c.State != storedRunning || c.EventsApplied != liveCP[n] || c.RebuiltAt.Unix() <= 0 {
			t.Errorf("checkpoint of %s = %+v, want position %d and %d events applied", n, c, head, liveCP[n])
		}
	}
	if got := indexNames(t, pool); !slices.Equal(got, indexesBefore) {
		t.Errorf("indexes after rebuild:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(indexesBefore, "\n"))
	}
	if len(calls) == 0 || calls[len(calls)-1] != [2]uint64{uint64(head), uint64(head)} {
		t.Errorf("progress calls end with %v, want done == total == %d", calls[len(calls)-1:], head)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Fatalf("progress went back: %v", calls)
		}
	}
	var schemas int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'").Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("%d scratch schemas left (%v)", schemas, err)
	}

	// One projection alone gives the same tables too.
	if err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projection: NewHistory(), Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	if a, b := checksum(t, pool, "post_revisions", allTables["post_revisions"]), checksum(t, pool, "post_history", allTables["post_history"]); a != live["post_revisions"] || b != live["post_history"] {
		t.Error("post history rebuilt alone differs from the live projection")
	}
}

func TestRebuildAllWhileWriting(t *testing.T) {
	t.Parallel()
	pool, store := newStoreDB(t)
	appendLog(t, store, append(fullLog(t), postBurst(t, "seed", 20, 9)...))
	cfg := Config{Pool: pool, Store: store, Projections: All(), BatchSize: 50, LeaderRetryInterval: 200 * time.Millisecond}
	_, stop := startRuntime(t, cfg)
	w := newWaiter(t, pool)

	stopWriting := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				appendLog(t, store, postBurst(t, fmt.Sprintf("w%d-%d", g, i), 1, 3))
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projections: All(), BatchSize: 20, Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the live runners resume after the swap
	close(stopWriting)
	wg.Wait()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(cfg.Projections))
	for _, p := range cfg.Projections {
		names = append(names, p.Name())
	}
	waitFor(t, w, 30*time.Second, head, names...)
	stop()
	var audited int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log").Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if eventstore.Position(audited) != head {
		t.Fatalf("audit_log has %d rows, head is %d: events missing or doubled across the swap", audited, head)
	}
	live := allChecksums(t, pool)
	if err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projections: All(), Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	for table, sum := range allChecksums(t, pool) {
		if sum != live[table] {
			t.Errorf("%s after rebuild-while-writing and live catch-up differs from a fresh rebuild", table)
		}
	}
}

func TestRebuildBulkFailureLeavesLiveTables(t *testing.T) {
	t.Parallel()
	pool, store := newStoreDB(t)
	evs := postBurst(t, "ok", 30, 4)
	l := newEventLog(t)
	// A post event this build does not know: the history projection (bulk
	// loaded) must fail on it as its Apply does.
	evs = append(evs[:70:70], append([]Event{l.addRaw(evs[0].StreamID, editor, "PostFrobnicated", 1, []byte(`{}`))}, evs[70:]...)...)
	appendLog(t, store, evs)
	before := allChecksums(t, pool)
	err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projections: []Projection{NewAudit(), NewHistory()},
		BatchSize: 16, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "unknown event type") || !strings.Contains(err.Error(), "rebuild audit_v1, post_history_v1") {
		t.Fatalf("rebuild = %v, want a failure on the unknown event type", err)
	}
	for table, sum := range allChecksums(t, pool) {
		if sum != before[table] {
			t.Errorf("failed rebuild changed %s", table)
		}
	}
	for _, n := range []string{AuditName, HistoryName} {
		if c := readCP(t, pool, n); c.Position != 0 || c.State != storedRunning {
			t.Errorf("checkpoint of %s after failed rebuild = %+v", n, c)
		}
	}
	var schemas int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'").Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("%d scratch schemas left (%v)", schemas, err)
	}
	// The audit log alone reads only envelopes: it rebuilds fine.
	if err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projection: NewAudit(), Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildConfigValidate(t *testing.T) {
	t.Parallel()
	pool := newDBNoMigrate(t)
	store := espgStoreless{}
	for _, tc := range []struct {
		name string
		cfg  RebuildConfig
		want string
	}{
		{"nothing to rebuild", RebuildConfig{Pool: pool, Store: store}, "no projection"},
		{"twice", RebuildConfig{Pool: pool, Store: store, Projection: NewPosts(), Projections: []Projection{NewPosts()}}, "given twice"},
		{"shared table", RebuildConfig{Pool: pool, Store: store, Projections: []Projection{newTestProjection("a_v1", "x"), newTestProjection("b_v1", "x")}}, "owned by a_v1 and b_v1"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := (RebuildConfig{Pool: pool, Store: store, Projections: All()}).Validate(); err != nil {
		t.Errorf("All(): %v", err)
	}
}

// espgStoreless is a Store for validation only.
type espgStoreless struct{ eventstore.Store }

// TestCopyRowEncodesLikePgx writes edge values once with CopyRow through
// COPY and once with pgx parameters, and compares the rows.
func TestCopyRowEncodesLikePgx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE enc (k int PRIMARY KEY, u uuid, s text, i int, n int, b bigint, ts timestamptz, a text[]);
		CREATE TABLE enc_want (LIKE enc INCLUDING ALL)`); err != nil {
		t.Fatal(err)
	}
	five := int32(5)
	rows := []struct {
		s  string
		n  *int32
		b  int64
		ts time.Time
		a  []string
	}{
		{"", nil, 0, time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC), nil},
		{"naïve \"quoted\", {braced}\n\ttabbed ✓", &five, -1 << 62, time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), []string{}},
		{strings.Repeat("x", 70_000), &five, 1<<63 - 1, time.Date(1999, 12, 31, 23, 0, 0, 1, time.FixedZone("x", 3600)), []string{"a", "", "b,c", `d"e`, "NULL", "ü"}},
	}
	table := BulkTable{Name: "enc", Columns: []string{"k", "u", "s", "i", "n", "b", "ts", "a"}}
	w := newBulkWriter([]BulkTable{table})
	for k, r := range rows {
		u := uuid.New()
		w.Row(0).Int32(int32(k)).UUID(u).Text(r.s).Int32(int32(-k)).NullInt32(r.n).Int64(r.b).Time(r.ts).TextArray(r.a)
		if _, err := pool.Exec(ctx, "INSERT INTO enc_want VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", k, u, r.s, -k, r.n, r.b, r.ts, nonNil(r.a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.check(); err != nil {
		t.Fatal(err)
	}
	data := append(w.tables[0].buf, 0xff, 0xff)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, strings.NewReader(string(data)), strings.Replace(copySQL("public", table), ", FREEZE", "", 1)); err != nil {
		t.Fatal(err)
	}
	if got, want := checksum(t, pool, "enc", "x.k"), checksum(t, pool, "enc_want", "x.k"); got != want {
		t.Error("rows written by COPY differ from rows written by pgx")
	}
	// A row with too few columns is reported.
	w.Row(0).Int32(9)
	if err := w.check(); err == nil || !strings.Contains(err.Error(), "has 1 columns, want 8") {
		t.Errorf("short row: %v", err)
	}
}
