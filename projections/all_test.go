package projections

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

func TestAllNamesAndTables(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	names, tables := map[string]bool{}, map[string]string{}
	for _, p := range All() {
		if names[p.Name()] {
			t.Errorf("duplicate projection name %s", p.Name())
		}
		names[p.Name()] = true
		for _, table := range p.Tables() {
			if owner, ok := tables[table]; ok {
				t.Errorf("table %s owned by %s and %s", table, owner, p.Name())
			}
			tables[table] = p.Name()
			// The runtime rebuilds blue/green with CREATE TABLE … (LIKE … INCLUDING ALL).
			if _, err := pool.Exec(context.Background(), fmt.Sprintf(
				"CREATE SCHEMA IF NOT EXISTS scratch; CREATE TABLE scratch.%s (LIKE public.%s INCLUDING ALL)", table, table)); err != nil {
				t.Errorf("copy table %s: %v", table, err)
			}
		}
	}
	for _, want := range []string{"posts", "tags", "post_revisions", "post_history", "users", "audit_log"} {
		if tables[want] == "" {
			t.Errorf("no projection owns %s", want)
		}
	}
	// Every projection works unchanged in the scratch schema.
	l := newEventLog(t)
	id, uid := uuid.NewString(), uuid.NewString()
	evs := []Event{
		l.add("user-"+uid, alice, domain.UserRegistered{UserID: uid, Email: "x@y.z", Username: "x", DisplayName: "X", Role: domain.RoleAuthor}),
		l.add("post-"+id, alice, domain.PostDrafted{PostID: id, AuthorID: uid, Slug: "s", PostContent: content("T", "b", "t"), Revision: 1}),
		l.add("post-"+id, editor, domain.PostPublished{PublishedAt: l.now}),
	}
	ctx := context.Background()
	for _, p := range All() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO scratch"); err != nil {
				return err
			}
			b, batched := p.(Batcher)
			if batched {
				if err := b.BeginBatch(ctx, tx); err != nil {
					return err
				}
			}
			for _, ev := range evs {
				if !matches(p, ev) {
					continue
				}
				if err := p.Apply(ctx, tx, ev); err != nil {
					return err
				}
			}
			if batched {
				return b.FlushBatch(ctx, tx)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s in scratch schema: %v", p.Name(), err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM scratch.posts) + (SELECT count(*) FROM scratch.audit_log) + (SELECT count(*) FROM public.posts)").Scan(&n); err != nil || n != 4 {
		t.Errorf("scratch rows = %d, %v; want 1 post + 3 audit entries, none in public", n, err)
	}
}

func matches(p Projection, ev Event) bool {
	prefixes := p.StreamPrefixes()
	if prefixes == nil {
		return true
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(ev.StreamID, pre) {
			return true
		}
	}
	return false
}

// syntheticLog generates the benchmark workload deterministically: posts
// drafted then edited edits times (markdown bodies of ~2 KB, each edit a
// little different), 60% published at the end, appended post by post like
// the seeder does. Each call of next returns the following event.
type syntheticLog struct {
	posts, edits int
	post, step   int
	pos          uint64
	id           string
	base         string
	at           time.Time
}

func newSyntheticLog(posts, edits int) *syntheticLog {
	var b strings.Builder
	b.WriteString("# A heading\n\nSome *emphasis*, **strong** text and a [link](https://example.com/page).\n\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "- list item %d with `code` and a few more words to make it longer\n", i)
	}
	b.WriteString("\n```go\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n```\n\n")
	for i := 0; i < 9; i++ {
		b.WriteString("A paragraph of ordinary prose, long enough to look like writing about software and content. ")
	}
	return &syntheticLog{posts: posts, edits: edits, base: b.String(), at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (g *syntheticLog) total() int {
	n := g.posts * (g.edits + 1)
	return n + g.posts*6/10
}

// next returns the next event, or false at the end.
func (g *syntheticLog) next() (Event, bool) {
	last := g.edits + 1 // step index of the optional publish event
	if g.post < g.posts && g.step == last && g.post%10 >= 6 {
		g.post, g.step = g.post+1, 0
	}
	if g.post >= g.posts {
		return Event{}, false
	}
	if g.step == 0 {
		g.id = uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(g.post))).String()
	}
	g.pos++
	g.at = g.at.Add(time.Second)
	actor := domain.Actor{ID: "11111111-1111-4111-8111-111111111111", Role: domain.RoleAuthor}
	var payload domain.Event
	tags := []string{"tag" + strconv.Itoa(g.post%50), "go"}
	switch {
	case g.step == 0:
		payload = domain.PostDrafted{PostID: g.id, AuthorID: actor.ID, Slug: "post-" + strconv.Itoa(g.post),
			PostContent: domain.PostContent{Title: "Post number " + strconv.Itoa(g.post), Body: g.base, Excerpt: "An excerpt", Tags: tags}, Revision: 1}
	case g.step < last:
		payload = domain.PostEdited{PostContent: domain.PostContent{Title: "Post number " + strconv.Itoa(g.post),
			Body: g.base + "\n\nEdit " + strconv.Itoa(g.step) + " adds a sentence.", Excerpt: "An excerpt", Tags: tags},
			Note: "edit " + strconv.Itoa(g.step), Revision: g.step + 1}
	default:
		actor = domain.Actor{ID: "22222222-2222-4222-8222-222222222222", Role: domain.RoleEditor}
		payload = domain.PostPublished{PublishedAt: g.at}
	}
	ev := Event{ID: uuid.New(), StreamID: "post-" + g.id, Version: uint64(g.step + 1), Position: eventstore.Position(g.pos),
		Type: payload.EventType(), RecordedAt: g.at, Payload: payload,
		Metadata: domain.Metadata{ActorID: actor.ID, ActorRole: actor.Role, CorrelationID: "c", CausationID: "c", OccurredAt: g.at, Schema: 1}}
	g.step++
	if g.step > last {
		g.post, g.step = g.post+1, 0
	}
	return ev, true
}

// runAll applies the synthetic workload to every projection at once, each on
// its own connection in batches of batch events per transaction (as the
// runtime does), and returns the elapsed time and the CPU time its
// PostgreSQL backends used (zero where /proc is unavailable).
func runAll(tb testing.TB, pool *pgxpool.Pool, posts, edits, batch int) (time.Duration, time.Duration) {
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var backendCPU time.Duration
	errs := make(chan error, 8)
	only := os.Getenv("PALIMPSEST_BENCH_ONLY")
	for _, p := range All() {
		if only != "" && p.Name() != only {
			continue
		}
		wg.Add(1)
		go func(p Projection) {
			defer wg.Done()
			if testing.Verbose() {
				defer func(t0 time.Time) { tb.Logf("%s: %v", p.Name(), time.Since(t0)) }(time.Now())
			}
			conn, err := pool.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			var pid int
			if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				errs <- err
				return
			}
			cpu0 := procCPU(pid)
			defer func() {
				mu.Lock()
				backendCPU += procCPU(pid) - cpu0
				mu.Unlock()
			}()
			g := newSyntheticLog(posts, edits)
			for done := false; !done; {
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					b, batched := p.(Batcher)
					if batched {
						if err := b.BeginBatch(ctx, tx); err != nil {
							return err
						}
					}
					for i := 0; i < batch; i++ {
						ev, ok := g.next()
						if !ok {
							done = true
							break
						}
						if !matches(p, ev) {
							continue
						}
						if err := p.Apply(ctx, tx, ev); err != nil {
							return err
						}
					}
					if batched {
						return b.FlushBatch(ctx, tx)
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("%s: %w", p.Name(), err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return time.Since(start), backendCPU
}

// procCPU returns the user+system CPU time of process pid from /proc, or 0.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	k, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond // USER_HZ = 100
}

func TestSyntheticRebuild(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	const posts, edits = 30, 5
	runAll(t, pool, posts, edits, 17)
	ctx := context.Background()
	var n, published, revs, hist, audit, unrendered int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM posts WHERE status = 'published'),
		(SELECT count(*) FROM post_revisions), (SELECT count(*) FROM post_history), (SELECT count(*) FROM audit_log),
		(SELECT count(*) FROM posts WHERE body_html IS NULL OR body_html NOT LIKE '%Edit 5 adds a sentence.%')`).
		Scan(&n, &published, &revs, &hist, &audit, &unrendered); err != nil {
		t.Fatal(err)
	}
	total := newSyntheticLog(posts, edits).total()
	if n != posts || published != posts*6/10 || revs != posts*(edits+1) || hist != total || audit != total || unrendered != 0 {
		t.Errorf("posts %d published %d revisions %d history %d audit %d unrendered %d; want %d %d %d %d %d 0",
			n, published, revs, hist, audit, unrendered, posts, posts*6/10, posts*(edits+1), total, total)
	}
	if got := tagCounts(t, pool)["go"]; got != published {
		t.Errorf("tag go counted %d, want %d", got, published)
	}
}

// BenchmarkRebuildAll measures all projections rebuilding from the synthetic
// log. PALIMPSEST_BENCH_POSTS and PALIMPSEST_BENCH_EDITS size it (default
// 200 × 50); the DESIGN target is 20,000 × 50 at ≥ 20,000 events/s.
func BenchmarkRebuildAll(b *testing.B) {
	posts, edits := envInt("PALIMPSEST_BENCH_POSTS", 200), envInt("PALIMPSEST_BENCH_EDITS", 50)
	for b.Loop() {
		b.StopTimer()
		pool := newReadDBB(b)
		b.StartTimer()
		var ru0, ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		d, pgCPU := runAll(b, pool, posts, edits, 500)
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		goCPU := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		total := float64(newSyntheticLog(posts, edits).total())
		b.ReportMetric(total/d.Seconds(), "events/s")
		// CPU per event is what bounds throughput on an idle 2-core machine:
		// 2 cores / (CPU per event) is the attainable events/s.
		b.ReportMetric(float64(goCPU.Microseconds())/total, "go-µs/event")
		b.ReportMetric(float64(pgCPU.Microseconds())/total, "pg-µs/event")
		b.ReportMetric(2*total/(goCPU+pgCPU).Seconds(), "events/s-at-2-idle-cores")
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// fullLog returns a mixed log over every stream kind.
func fullLog(t *testing.T) []Event {
	evs := mixedPostLog(t)
	l := newEventLog(t)
	l.pos = uint64(len(evs)) + 10
	uid, mid := uuid.NewString(), uuid.NewString()
	evs = append(evs,
		l.add("username-ann", domain.Actor{ID: uid, Role: domain.RoleReader}, domain.ReservationClaimed{OwnerID: uid, Value: "ann"}),
		l.add("user-"+uid, domain.Actor{ID: uid, Role: domain.RoleReader}, domain.UserRegistered{UserID: uid, Email: "a@b.c", Username: "ann", DisplayName: "Ann", PasswordHash: testHash, Role: domain.RoleReader}),
		l.add("user-"+uid, editor, domain.UserRoleChanged{From: domain.RoleReader, To: domain.RoleAuthor}),
		l.add("media-"+mid, alice, domain.MediaUploaded{MediaID: mid, Hash: strings.Repeat("ab", 32), Type: "image/png", Size: 10,
			Width: 4, Height: 3, UploaderID: uid, Renditions: []domain.Rendition{{Name: "thumb", Width: 4, Height: 3, Type: "image/png", Size: 9}}}),
	)
	return evs
}

func TestBatchedEqualsEager(t *testing.T) {
	t.Parallel()
	evs := fullLog(t)
	keys := map[string]string{"posts": "x.id", "tags": "x.name", "post_revisions": "x.post_id, x.revision",
		"post_history": "x.post_id, x.version", "users": "x.id", "audit_log": "x.position", "media": "x.id", "media_post_usage": "x.post_id"}
	sums := func(pool *pgxpool.Pool) map[string]string {
		out := map[string]string{}
		for table, key := range keys {
			from := table
			if table == "tags" {
				from = liveTags
			}
			out[table] = checksum(t, pool, from, key)
		}
		return out
	}
	eagerDB := newReadDB(t)
	for _, p := range All() {
		for _, ev := range evs {
			if matches(p, ev) {
				applyEach(t, eagerDB, p, ev)
			}
		}
	}
	want := sums(eagerDB)
	for _, size := range []int{1, 4, 9, len(evs)} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			t.Parallel()
			pool := newReadDB(t)
			for _, p := range All() {
				var mine []Event
				for _, ev := range evs {
					if matches(p, ev) {
						mine = append(mine, ev)
					}
				}
				for i := 0; i < len(mine); i += size {
					apply(t, pool, p, mine[i:min(i+size, len(mine))]...)
				}
				apply(t, pool, p, mine...) // redelivery
			}
			got := sums(pool)
			for table := range keys {
				if got[table] != want[table] {
					t.Errorf("%s differs from the event-by-event projection", table)
				}
			}
			assertNoSecrets(t, pool, testHash)
		})
	}
}
