// Package seed fills an empty (or not so empty) Palimpsest with placeholder
// data: users of every role and posts with a realistic edit history.
//
// Users are registered through the commands layer (password hashing,
// reservation streams, first account becomes admin) and promoted by the
// admin. Posts are decided by the domain.Post aggregate exactly as commands
// would (draft, edits, submit, publish or schedule) but at plausible,
// spread-out past times, and all events of one post are appended in one
// Append call, with a few workers in parallel. Content comes from a
// math/rand/v2 generator per post seeded from Config.Seed, so the same seed
// gives the same posts; post IDs are derived from the seed too, which makes a
// re-run with the same seed skip the posts that already exist (resumable).
package seed

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Defaults for Config fields left zero.
const (
	DefaultWorkers      = 4
	DefaultPublishShare = 0.6
)

// Config configures a seeding run.
type Config struct {
	// Store is the event store posts are appended to. Required.
	Store eventstore.Store
	// Commands registers users (and changes their roles). Required.
	Commands *commands.Handler
	// Users is the number of accounts to create: admin1, author1, editor1,
	// auditor1 and reader1 first, then of the rest 10% editors, 30% authors
	// and 60% readers. Posts need at least two (an admin and an author).
	Users int
	// Posts is the number of posts to create.
	Posts int
	// EditsPerPost is the number of edits after the draft (each post gets
	// EditsPerPost+1 revisions).
	EditsPerPost int
	// PublishShare is the share of posts that end up published; 0 means
	// DefaultPublishShare. About 10% more are in review and 5% scheduled.
	PublishShare float64
	// Password is every seeded account's password. Required.
	Password string
	// Seed makes the run deterministic.
	Seed uint64
	// Workers is the number of posts appended in parallel; 0 means DefaultWorkers.
	Workers int
	// Now is the reference time: all events occur before it; zero means time.Now().
	Now time.Time
	// Analyze, when set, refreshes the event store's planner statistics
	// (e.g. ANALYZE on the PostgreSQL store's tables). A bulk load makes
	// stale statistics costly (DESIGN.md §6), so Run calls it when 100,
	// 1,000, 10,000, … posts are done and once at the end.
	Analyze func(ctx context.Context) error
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("seed config: Store is required")
	case c.Commands == nil:
		return errors.New("seed config: Commands is required")
	case c.Users < 0 || c.Posts < 0 || c.EditsPerPost < 0:
		return errors.New("seed config: Users, Posts and EditsPerPost must not be negative")
	case c.Posts > 0 && c.Users < 2:
		return errors.New("seed config: posts need at least 2 users (an admin and an author)")
	case c.PublishShare < 0 || c.PublishShare > 1:
		return errors.New("seed config: PublishShare must be between 0 and 1")
	case c.Workers < 0:
		return errors.New("seed config: Workers must not be negative")
	case c.Users > 0 && c.Password == "":
		return errors.New("seed config: Password is required")
	}
	if c.Users > 0 {
		if err := domain.ValidatePassword(c.Password); err != nil {
			return fmt.Errorf("seed config: Password: %w", err)
		}
	}
	return nil
}

// User is a seeded account.
type User struct {
	ID       string
	Username string
	Email    string
	Role     domain.Role
	// Existed is true when the account was already there from an earlier run.
	Existed bool
}

// Progress is a snapshot of a run's progress.
type Progress struct {
	// PostsDone counts posts appended or skipped (already present).
	PostsDone  int64
	PostsTotal int64
	// Events counts the events appended.
	Events  int64
	Elapsed time.Duration
}

// Result summarizes a finished run.
type Result struct {
	Users []User
	// Posts is the number of posts created; Skipped the number already present.
	Posts, Skipped int
	Published      int
	Events         int64
	Elapsed        time.Duration
}

// Seeder runs one seeding. Progress may be called from another goroutine
// while Run works.
type Seeder struct {
	cfg     Config
	start   atomic.Int64 // UnixNano when Run started; 0 before
	done    atomic.Int64
	events  atomic.Int64
	skipped atomic.Int64
	pubs    atomic.Int64
	users   []User
}

// New returns a Seeder for cfg, filling in defaults.
func New(cfg Config) (*Seeder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new seeder: %w", err)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PublishShare == 0 {
		cfg.PublishShare = DefaultPublishShare
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	cfg.Now = cfg.Now.UTC().Truncate(time.Microsecond)
	return &Seeder{cfg: cfg}, nil
}

// Progress returns the current progress.
func (s *Seeder) Progress() Progress {
	var el time.Duration
	if start := s.start.Load(); start != 0 {
		el = time.Since(time.Unix(0, start))
	}
	return Progress{PostsDone: s.done.Load(), PostsTotal: int64(s.cfg.Posts), Events: s.events.Load(), Elapsed: el}
}

// Run creates the users, then the posts. It stops at the first error.
func (s *Seeder) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	s.start.Store(start.UnixNano())
	if err := s.seedUsers(ctx); err != nil {
		return Result{}, err
	}
	if err := s.seedPosts(ctx); err != nil {
		return Result{}, err
	}
	skipped := int(s.skipped.Load())
	return Result{
		Users:     s.users,
		Posts:     s.cfg.Posts - skipped,
		Skipped:   skipped,
		Published: int(s.pubs.Load()),
		Events:    s.events.Load(),
		Elapsed:   time.Since(start),
	}, nil
}

// roles returns the deterministic role plan for n users: admin1 first, then
// author, editor, auditor, reader (so small runs have one of each), then the
// rest by share.
func roles(n int) []domain.Role {
	out := make([]domain.Role, 0, n)
	base := []domain.Role{domain.RoleAdmin, domain.RoleAuthor, domain.RoleEditor, domain.RoleAuditor, domain.RoleReader}
	for i := 0; i < n && i < len(base); i++ {
		out = append(out, base[i])
	}
	for i := len(out); i < n; i++ {
		switch r := (i - len(base)) % 10; {
		case r == 0:
			out = append(out, domain.RoleEditor)
		case r <= 3:
			out = append(out, domain.RoleAuthor)
		default:
			out = append(out, domain.RoleReader)
		}
	}
	return out
}

// seedUsers registers the accounts: admin1 first (it becomes the admin on
// an empty system), then the others in parallel, promoted by the admin.
func (s *Seeder) seedUsers(ctx context.Context) error {
	plan := roles(s.cfg.Users)
	counts := map[domain.Role]int{}
	s.users = make([]User, len(plan))
	for i, r := range plan {
		counts[r]++
		name := fmt.Sprintf("%s%d", r, counts[r])
		s.users[i] = User{Username: name, Email: name + "@example.com", Role: r}
	}
	if len(plan) == 0 {
		return nil
	}
	// The admin: on an empty system the first account is admin. On a system
	// that already has users the seed acts with operator authority to
	// promote it (the metadata names the seed as the actor).
	operator := domain.Actor{ID: "seed", Role: domain.RoleAdmin}
	if err := s.register(ctx, &s.users[0], operator); err != nil {
		return err
	}
	admin := operator
	if s.users[0].Role == domain.RoleAdmin {
		admin = domain.Actor{ID: s.users[0].ID, Role: domain.RoleAdmin}
	}
	errs := make(chan error, len(plan))
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for i := 1; i < len(plan); i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.register(ctx, &s.users[i], admin); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// register creates (or finds, on a re-run) one account and gives it its
// planned role.
func (s *Seeder) register(ctx context.Context, u *User, admin domain.Actor) error {
	want := u.Role
	meta := commands.Meta{CorrelationID: uuid.NewString()}
	res, registered, err := s.cfg.Commands.RegisterUser(ctx, meta, commands.RegisterUser{
		Email: u.Email, Username: u.Username, Password: s.cfg.Password, DisplayName: displayName(u.Username),
	})
	switch {
	case err == nil:
		u.ID, u.Role = res.ID, registered.Role
	case domain.CodeOf(err) == "username_taken" || domain.CodeOf(err) == "email_taken":
		existing, aerr := s.cfg.Commands.Authenticate(ctx, u.Username, s.cfg.Password)
		if aerr != nil {
			return fmt.Errorf("seed user %s: it exists with another password (%w); use the same --password or a fresh database", u.Username, aerr)
		}
		u.ID, u.Role, u.Existed = existing.ID, existing.Role, true
	default:
		return fmt.Errorf("seed user %s: %w", u.Username, err)
	}
	if u.Role == want || admin.ID == u.ID {
		return nil
	}
	if want == domain.RoleAdmin && admin.ID != "seed" {
		// Only the operator promotes a second admin; keep it simple.
		return nil
	}
	_, err = s.cfg.Commands.ChangeRole(ctx, commands.Meta{Actor: admin, CorrelationID: uuid.NewString()},
		commands.ChangeRole{UserID: u.ID, Role: want})
	if err != nil {
		return fmt.Errorf("seed user %s: change role to %s: %w", u.Username, want, err)
	}
	u.Role = want
	return nil
}

func displayName(username string) string {
	return upperFirst(username[:len(username)-len(trailingDigits(username))]) + " " + trailingDigits(username)
}

func trailingDigits(s string) string {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[i:]
}

// seedPosts creates the posts with Workers goroutines.
func (s *Seeder) seedPosts(ctx context.Context) error {
	if s.cfg.Posts == 0 {
		return nil
	}
	var writers, editors []domain.Actor
	for _, u := range s.users {
		a := domain.Actor{ID: u.ID, Role: u.Role}
		switch u.Role {
		case domain.RoleAuthor:
			writers = append(writers, a)
		case domain.RoleEditor, domain.RoleAdmin:
			writers = append(writers, a)
			editors = append(editors, a)
		}
	}
	if len(writers) == 0 || len(editors) == 0 {
		return errors.New("seed posts: need at least one author or editor and one editor or admin")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errc := make(chan error, s.cfg.Workers)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := s.seedPost(ctx, i, writers, editors)
				if n := s.done.Add(1); err == nil && s.cfg.Analyze != nil && milestone(n) {
					err = s.analyze(ctx)
				}
				if err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := range s.cfg.Posts {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.cfg.Analyze != nil {
		return s.analyze(ctx)
	}
	return nil
}

// milestone reports whether n is 100, 1,000, 10,000, …
func milestone(n int64) bool {
	if n < 100 {
		return false
	}
	for n%10 == 0 {
		n /= 10
	}
	return n == 1
}

func (s *Seeder) analyze(ctx context.Context) error {
	if err := s.cfg.Analyze(ctx); err != nil {
		return fmt.Errorf("seed: refresh store statistics: %w", err)
	}
	return nil
}

// rngReader adapts a math/rand/v2 generator to io.Reader for uuid.
type rngReader struct{ rng *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := 0; i < len(p); i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], r.rng.Uint64())
		copy(p[i:], b[:])
	}
	return len(p), nil
}

// postPlan is the decided history of one post.
type postPlan struct {
	id      string
	slug    string
	author  domain.Actor
	created time.Time
	events  []eventstore.EventData
	pub     bool
}

// seedPost decides and appends post number i.
func (s *Seeder) seedPost(ctx context.Context, i int, writers, editors []domain.Actor) error {
	plan, err := s.planPost(i, writers, editors)
	if err != nil {
		return fmt.Errorf("seed post %d: %w", i, err)
	}
	// Reserve the slug like commands do, so later drafts never collide.
	claimed, err := s.claimSlug(ctx, plan)
	if err != nil {
		return fmt.Errorf("seed post %d: %w", i, err)
	}
	if !claimed {
		s.skipped.Add(1)
		return nil
	}
	if _, err := s.cfg.Store.Append(ctx, domain.PostStreamPrefix+plan.id, eventstore.NoStream, plan.events...); err != nil {
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			s.skipped.Add(1) // created by an earlier run with the same seed
			return nil
		}
		return fmt.Errorf("seed post %d: append: %w", i, err)
	}
	s.events.Add(int64(len(plan.events)))
	if plan.pub {
		s.pubs.Add(1)
	}
	return nil
}

// claimSlug appends the slug reservation. It reports false when the post
// already exists (an earlier run with the same seed created it).
func (s *Seeder) claimSlug(ctx context.Context, plan *postPlan) (bool, error) {
	ev, err := encode(plan.author, uuid.Nil,
		domain.EventAt{Event: domain.ReservationClaimed{OwnerID: plan.id, Value: plan.slug}, OccurredAt: plan.created}, uuid.NewString())
	if err != nil {
		return false, err
	}
	stream := commands.SlugStream(plan.slug)
	_, err = s.cfg.Store.Append(ctx, stream, eventstore.NoStream, ev)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return false, fmt.Errorf("claim slug %s: %w", plan.slug, err)
	}
	// Taken: by this very post (a re-run) or by another one.
	recs, err := s.cfg.Store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("claim slug %s: %w", plan.slug, err)
	}
	var claim domain.ReservationClaimed
	if len(recs) == 0 || recs[0].Type != domain.EventReservationClaimed || json.Unmarshal(recs[0].Data, &claim) != nil || claim.OwnerID != plan.id {
		return false, fmt.Errorf("claim slug %s: taken by another post (seed into a fresh database or use another --seed)", plan.slug)
	}
	_, err = s.cfg.Store.ReadStream(ctx, domain.PostStreamPrefix+plan.id, eventstore.ReadStreamOptions{Limit: 1})
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return true, nil // claimed by a run that stopped before appending the post
	}
	return false, fmt.Errorf("claim slug %s: %w", plan.slug, err)
}

// planPost decides the whole history of post i with the domain aggregate.
func (s *Seeder) planPost(i int, writers, editors []domain.Actor) (*postPlan, error) {
	rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(i)))
	ids := rngReader{rng}
	postID, err := uuid.NewRandomFromReader(ids)
	if err != nil {
		return nil, err
	}
	author := pick(rng, writers)
	editor := pick(rng, editors)
	art := newArticle(rng)
	slug := domain.TruncateSlug(domain.Slugify(art.title), domain.MaxSlugLen-8) + fmt.Sprintf("-%d", i+1)

	// Times: created 20 to 400 days ago; edits spread until shortly before now.
	created := s.cfg.Now.Add(-time.Duration(20+rng.IntN(380)) * 24 * time.Hour).Add(time.Duration(rng.IntN(86400)) * time.Second)
	span := s.cfg.Now.Sub(created) - time.Hour
	steps := s.cfg.EditsPerPost + 2
	gap := span / time.Duration(steps)
	at := created
	tick := func() time.Time {
		at = at.Add(time.Minute + time.Duration(rng.Int64N(int64(gap))))
		return at.UTC().Truncate(time.Microsecond)
	}

	var by []domain.Actor // who decided each event
	created = created.UTC().Truncate(time.Microsecond)
	p, err := domain.DraftPost(author, postID.String(), slug, art.content(), created)
	if err != nil {
		return nil, fmt.Errorf("draft: %w", err)
	}
	by = append(by, author)
	for range s.cfg.EditsPerPost {
		actor := author
		if rng.IntN(8) == 0 {
			actor = editor
		}
		var note string
		content := p.Content
		for try := 0; try < 10 && domain.ContentEqual(domain.NormalizeContent(content), p.Content); try++ {
			note = art.edit(rng)
			content = art.content()
		}
		if err := p.Edit(actor, content, note, tick()); err != nil {
			return nil, fmt.Errorf("edit: %w", err)
		}
		by = append(by, actor)
	}
	pub := false
	switch x := rng.Float64(); {
	case x < s.cfg.PublishShare:
		if rng.IntN(2) == 0 {
			if err := p.Submit(author, tick()); err != nil {
				return nil, fmt.Errorf("submit: %w", err)
			}
			by = append(by, author)
		}
		if err := p.Publish(editor, tick()); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		by = append(by, editor)
		pub = true
	case x < s.cfg.PublishShare+0.10:
		if err := p.Submit(author, tick()); err != nil {
			return nil, fmt.Errorf("submit: %w", err)
		}
		by = append(by, author)
	case x < s.cfg.PublishShare+0.15:
		t := tick()
		publishAt := s.cfg.Now.Add(time.Duration(1+rng.IntN(30*24)) * time.Hour)
		if err := p.Schedule(editor, publishAt, t); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
		by = append(by, editor)
	}

	changes := p.Changes()
	events := make([]eventstore.EventData, 0, len(changes))
	for k, c := range changes {
		id, err := uuid.NewRandomFromReader(ids)
		if err != nil {
			return nil, err
		}
		corr, err := uuid.NewRandomFromReader(ids)
		if err != nil {
			return nil, err
		}
		ev, err := encode(by[k], id, c, corr.String())
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return &postPlan{id: postID.String(), slug: slug, author: author, created: created, events: events, pub: pub}, nil
}

// encode turns a decided event into EventData with metadata like commands
// write it. A nil id gets a random one.
func encode(actor domain.Actor, id uuid.UUID, c domain.EventAt, correlationID string) (eventstore.EventData, error) {
	data, schema, err := domain.EncodeEvent(c.Event)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("encode %s: %w", c.Event.EventType(), err)
	}
	md, err := json.Marshal(domain.Metadata{
		ActorID:       actor.ID,
		ActorRole:     actor.Role,
		CorrelationID: correlationID,
		OccurredAt:    c.OccurredAt,
		Schema:        schema,
	})
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("encode metadata: %w", err)
	}
	if id == uuid.Nil {
		id = uuid.New()
	}
	return eventstore.EventData{ID: id, Type: c.Event.EventType(), Data: data, Metadata: md}, nil
}
