package seed

import (
	"context"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

const testPassword = "placeholder-password-1"

func newStore(t *testing.T) eventstore.Store {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	store, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func newHandler(t *testing.T, store eventstore.Store) *commands.Handler {
	t.Helper()
	h, err := commands.New(commands.Config{Store: store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params())})
	if err != nil {
		t.Fatalf("new commands handler: %v", err)
	}
	return h
}

func TestMilestone(t *testing.T) {
	for n, want := range map[int64]bool{1: false, 10: false, 99: false, 100: true, 101: false, 200: false, 1000: true, 10000: true, 20000: false} {
		if got := milestone(n); got != want {
			t.Errorf("milestone(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		n    int
		want map[domain.Role]int
	}{
		{n: 1, want: map[domain.Role]int{domain.RoleAdmin: 1}},
		{n: 5, want: map[domain.Role]int{domain.RoleAdmin: 1, domain.RoleAuthor: 1, domain.RoleEditor: 1, domain.RoleAuditor: 1, domain.RoleReader: 1}},
		{n: 20, want: map[domain.Role]int{domain.RoleAdmin: 1, domain.RoleAuthor: 7, domain.RoleEditor: 3, domain.RoleAuditor: 1, domain.RoleReader: 8}},
	}
	for _, tt := range tests {
		got := map[domain.Role]int{}
		for _, r := range roles(tt.n) {
			got[r]++
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("roles(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	store := newStoreless()
	h := &commands.Handler{}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "ok", cfg: Config{Store: store, Commands: h, Users: 5, Posts: 3, Password: testPassword}, ok: true},
		{name: "no store", cfg: Config{Commands: h, Users: 5, Password: testPassword}},
		{name: "no commands", cfg: Config{Store: store, Users: 5, Password: testPassword}},
		{name: "posts without authors", cfg: Config{Store: store, Commands: h, Users: 1, Posts: 3, Password: testPassword}},
		{name: "negative edits", cfg: Config{Store: store, Commands: h, Users: 5, EditsPerPost: -1, Password: testPassword}},
		{name: "bad share", cfg: Config{Store: store, Commands: h, Users: 5, PublishShare: 1.5, Password: testPassword}},
		{name: "no password", cfg: Config{Store: store, Commands: h, Users: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// newStoreless returns a non-nil Store value for config validation only.
func newStoreless() eventstore.Store {
	var s *pgstore.Store
	return s
}

// TestPlanDeterministic checks that a seed gives the same content and IDs.
func TestPlanDeterministic(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	writers := []domain.Actor{{ID: "11111111-1111-1111-1111-111111111111", Role: domain.RoleAuthor}}
	editors := []domain.Actor{{ID: "22222222-2222-2222-2222-222222222222", Role: domain.RoleEditor}}
	mk := func(seed uint64) *Seeder {
		s, err := New(Config{Store: newStoreless(), Commands: &commands.Handler{}, Users: 2, Posts: 1, EditsPerPost: 10, Password: testPassword, Seed: seed, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, err := mk(7).planPost(3, writers, editors)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	b, err := mk(7).planPost(3, writers, editors)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed planned different posts")
	}
	c, err := mk(8).planPost(3, writers, editors)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if c.id == a.id || reflect.DeepEqual(c.events[0].Data, a.events[0].Data) {
		t.Fatal("different seeds planned the same post")
	}
	if n := len(a.events); n < 11 {
		t.Fatalf("planned %d events, want at least 11 (draft + 10 edits)", n)
	}
}

// TestRun seeds a real PostgreSQL event store and checks the result through
// the commands layer, then re-runs with the same seed.
func TestRun(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	h := newHandler(t, store)
	const users, posts, edits = 7, 24, 4
	var analyzed atomic.Int64
	cfg := Config{Store: store, Commands: h, Users: users, Posts: posts, EditsPerPost: edits, Password: testPassword, Seed: 42, Workers: 3,
		Analyze: func(ctx context.Context) error {
			analyzed.Add(1)
			_, err := store.(*pgstore.Store).Pool().Exec(ctx, "ANALYZE es_events, es_streams")
			return err
		}}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("new seeder: %v", err)
	}
	polled := make(chan struct{})
	stop := make(chan struct{})
	go func() { // Progress is read concurrently, as the progress bar does
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
				_ = s.Progress()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	res, err := s.Run(ctx)
	close(stop)
	<-polled
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res.Users) != users || res.Posts != posts || res.Skipped != 0 {
		t.Fatalf("result: %d users, %d posts, %d skipped", len(res.Users), res.Posts, res.Skipped)
	}
	if n := analyzed.Load(); n != 1 {
		t.Fatalf("Analyze called %d times, want once at the end", n)
	}
	if p := s.Progress(); p.PostsDone != posts || p.Events != res.Events {
		t.Fatalf("progress %+v does not match result %+v", p, res)
	}

	wantRoles := roles(users)
	for i, u := range res.Users {
		if u.Role != wantRoles[i] {
			t.Errorf("user %s has role %s, want %s", u.Username, u.Role, wantRoles[i])
		}
		loaded, err := h.Authenticate(ctx, u.Username, testPassword)
		if err != nil {
			t.Fatalf("authenticate %s: %v", u.Username, err)
		}
		if loaded.ID != u.ID || loaded.Role != u.Role {
			t.Errorf("user %s loads as %s/%s, want %s/%s", u.Username, loaded.ID, loaded.Role, u.ID, u.Role)
		}
	}
	if res.Users[0].Username != "admin1" || res.Users[1].Username != "author1" {
		t.Fatalf("usernames %s, %s; want admin1, author1", res.Users[0].Username, res.Users[1].Username)
	}

	// Every post folds through the domain with edits+1 revisions.
	var events int64
	published := 0
	now := time.Now()
	all, err := store.ReadAll(ctx, eventstore.ReadAllOptions{Limit: 100000})
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	postIDs := map[string]bool{}
	for _, ev := range all {
		if id, ok := strings.CutPrefix(ev.StreamID, domain.PostStreamPrefix); ok {
			postIDs[id] = true
		}
	}
	if len(postIDs) != posts {
		t.Fatalf("%d post streams, want %d", len(postIDs), posts)
	}
	for id := range postIDs {
		p, err := h.LoadPost(ctx, id)
		if err != nil {
			t.Fatalf("load post %s: %v", id, err)
		}
		if p.Revision != edits+1 || len(p.Revisions) != edits+1 {
			t.Errorf("post %s has revision %d, want %d", id, p.Revision, edits+1)
		}
		if n := len(p.Content.Body); n < 800 || n > 5000 {
			t.Errorf("post %s body is %d bytes, want about 1-3 KB", id, n)
		}
		if !strings.Contains(p.Content.Body, "\n## ") {
			t.Errorf("post %s body has no heading", id)
		}
		if p.CreatedAt.After(now) || p.UpdatedAt.After(now) || !p.UpdatedAt.After(p.CreatedAt) {
			t.Errorf("post %s times: created %v, updated %v", id, p.CreatedAt, p.UpdatedAt)
		}
		if p.Status == domain.StatusPublished {
			published++
		}
		events += int64(p.Version)
	}
	if published != res.Published {
		t.Fatalf("%d posts published, result says %d", published, res.Published)
	}
	if events != res.Events {
		t.Fatalf("post streams hold %d events, result says %d", events, res.Events)
	}
	if published == 0 || published == posts {
		t.Fatalf("%d of %d posts published, want a share", published, posts)
	}

	// A re-run with the same seed finds everything in place.
	s2, err := New(cfg)
	if err != nil {
		t.Fatalf("new seeder: %v", err)
	}
	res2, err := s2.Run(ctx)
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if res2.Skipped != posts || res2.Events != 0 {
		t.Fatalf("re-run: %d skipped, %d events; want %d skipped, 0 events", res2.Skipped, res2.Events, posts)
	}
	for _, u := range res2.Users {
		if !u.Existed {
			t.Fatalf("re-run registered %s again", u.Username)
		}
	}

	// Another password on a re-run is refused clearly.
	cfg.Password = "another-password-2"
	s3, _ := New(cfg)
	if _, err := s3.Run(ctx); err == nil || !strings.Contains(err.Error(), "another password") {
		t.Fatalf("re-run with another password: %v", err)
	}
}

// BenchmarkPlanPost measures deciding and encoding one post with 50 edits
// (the client-side cost of seeding, without the store).
func BenchmarkPlanPost(b *testing.B) {
	writers := []domain.Actor{{ID: "11111111-1111-1111-1111-111111111111", Role: domain.RoleAuthor}}
	editors := []domain.Actor{{ID: "22222222-2222-2222-2222-222222222222", Role: domain.RoleEditor}}
	s, err := New(Config{Store: newStoreless(), Commands: &commands.Handler{}, Users: 2, Posts: 1, EditsPerPost: 50, Password: testPassword, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	i := 0
	for b.Loop() {
		p, err := s.planPost(i, writers, editors)
		if err != nil {
			b.Fatal(err)
		}
		events += len(p.events)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}
