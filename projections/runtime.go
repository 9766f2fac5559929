package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Config configures a Runtime.
type Config struct {
	// Pool is the read-model database (projection_checkpoints and the
	// projections' tables must exist: run postgres.Migrate first).
	Pool *pgxpool.Pool
	// Store is the event store to project.
	Store eventstore.Store
	// Projections to run. Names must be unique.
	Projections []Projection
	// BatchSize caps events per batch transaction. Default 500.
	BatchSize int
	// BatchTimeout caps how long a batch stays open. Default 50 ms.
	BatchTimeout time.Duration
	// LeaderRetryInterval is how often a standby retries leadership and the
	// leader re-checks it. Default 1 s (the maximum).
	LeaderRetryInterval time.Duration
	// MaxRetries is how often a failing event is retried within its batch
	// before the projection is stopped and marked failed. Default 3.
	MaxRetries int
	// RetryInterval is the first retry backoff, doubled per retry up to 1 s.
	// Default 100 ms.
	RetryInterval time.Duration
	// LagInterval is how often the lag gauges are refreshed. Default 5 s.
	LagInterval time.Duration
	// FeedSize is how many of the newest log events the shared feed keeps
	// (see SubscriberConfig.FeedSize). Default DefaultFeedSize; negative:
	// every projection reads the log on its own.
	FeedSize int
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the runtime's metrics (see NewMetrics).
	Metrics *Metrics
}

func (c *Config) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 50 * time.Millisecond
	}
	if c.LeaderRetryInterval == 0 {
		c.LeaderRetryInterval = time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c Config) subscriberConfig() SubscriberConfig {
	return SubscriberConfig{
		Pool: c.Pool, Store: c.Store, Projections: c.Projections,
		BatchSize: c.BatchSize, BatchTimeout: c.BatchTimeout, FeedSize: c.FeedSize,
		LeaderRetryInterval: c.LeaderRetryInterval, Logger: c.Logger, Metrics: c.Metrics,
	}
}

// Validate checks the configuration (after defaults are applied).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if err := c.subscriberConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Projections) == 0 {
		errs = append(errs, errors.New("no projections"))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max retries %d must not be negative", c.MaxRetries))
	}
	if c.RetryInterval < 0 || c.LagInterval < 0 {
		errs = append(errs, errors.New("retry and lag intervals must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("projection runtime config: %w", errors.Join(errs...))
	}
	return nil
}

// Runtime runs projections: one Watermill router with one handler per
// projection (handler name = projection name), each fed by the Subscriber.
type Runtime struct {
	cfg    Config
	byName map[string]Projection

	mu  sync.Mutex
	sub *Subscriber // of the current Run, for Resume's wake-up
}

// NewRuntime returns a Runtime for cfg.
func NewRuntime(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	r := &Runtime{cfg: cfg, byName: map[string]Projection{}}
	for _, p := range cfg.Projections {
		r.byName[p.Name()] = p
	}
	return r, nil
}

// Names returns the names of the runtime's projections in configuration order.
func (r *Runtime) Names() []string {
	names := make([]string, 0, len(r.cfg.Projections))
	for _, p := range r.cfg.Projections {
		names = append(names, p.Name())
	}
	return names
}

// Run runs the projections until ctx is done. Each projection runs in this
// process only while it holds that projection's leadership; otherwise it
// stands by. Run returns nil after ctx is cancelled.
func (r *Runtime) Run(ctx context.Context) error {
	if err := ensureCheckpoints(ctx, r.cfg.Pool, r.Names()); err != nil {
		return fmt.Errorf("run projections: %w", err)
	}
	sub, err := NewSubscriber(r.cfg.subscriberConfig())
	if err != nil {
		return fmt.Errorf("run projections: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second},
		watermill.NewSlogLoggerWithLevelMapping(r.cfg.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}))
	if err != nil {
		return fmt.Errorf("run projections: new router: %w", err)
	}
	router.AddMiddleware(
		middleware.Recoverer,
		middleware.Retry{
			MaxRetries:      r.cfg.MaxRetries,
			InitialInterval: r.cfg.RetryInterval,
			MaxInterval:     time.Second,
			Multiplier:      2,
			ShouldRetry: func(p middleware.RetryParams) bool {
				return !errors.Is(p.Err, context.Canceled) && !errors.Is(p.Err, errRerunCarefully)
			},
		}.Middleware,
	)
	for _, p := range r.cfg.Projections {
		// WARNING: the handler name is the projection name, the stable
		// identity of its checkpoint; see Projection.Name.
		router.AddConsumerHandler(p.Name(), p.Name(), sub, handler(p))
	}
	r.mu.Lock()
	r.sub = sub
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		r.lagLoop(ctx)
	}()
	err = router.Run(ctx)
	cancel()
	<-lagDone
	if cerr := sub.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("run projections: %w", err)
	}
	return nil
}

// handler applies one message's event in the batch transaction. In a careful
// batch each attempt runs inside a savepoint, so a failed attempt (an
// aborted statement or a panic) is rolled back and retried without losing
// the batch; in a fast batch a failure asks for a careful re-run instead.
func handler(p Projection) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ctx := msg.Context()
		tx := TxFromContext(ctx)
		ev, ok := EventFromContext(ctx)
		if tx == nil || !ok {
			return fmt.Errorf("apply %s: message %s carries no batch transaction", p.Name(), msg.UUID)
		}
		var err error
		if careful(ctx) {
			err = applyInSavepoint(ctx, tx, p, ev)
		} else if err = applyDirect(ctx, tx, p, ev); err != nil {
			err = fmt.Errorf("%w: %w", errRerunCarefully, err)
		}
		if err != nil {
			recordFailure(ctx, err)
		}
		return err
	}
}

func applyDirect(ctx context.Context, tx pgx.Tx, p Projection, ev Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("apply %s at %d: panic: %v", p.Name(), ev.Position, v)
		}
	}()
	if err := p.Apply(ctx, tx, ev); err != nil {
		return fmt.Errorf("apply %s to %s event at %d: %w", p.Name(), ev.Type, ev.Position, err)
	}
	return nil
}

func applyInSavepoint(ctx context.Context, tx pgx.Tx, p Projection, ev Event) (err error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("apply %s at %d: savepoint: %w", p.Name(), ev.Position, err)
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("apply %s at %d: panic: %v", p.Name(), ev.Position, v)
		}
		if err != nil {
			if rerr := sp.Rollback(context.WithoutCancel(ctx)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rollback savepoint: %w", rerr))
			}
		}
	}()
	if err := p.Apply(ctx, sp, ev); err != nil {
		return fmt.Errorf("apply %s to %s event at %d: %w", p.Name(), ev.Type, ev.Position, err)
	}
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("apply %s at %d: release savepoint: %w", p.Name(), ev.Position, err)
	}
	return nil
}

// Resume clears the failed state of the projection name so it retries from
// its checkpoint (in whichever process leads it).
func (r *Runtime) Resume(ctx context.Context, name string) error {
	if _, ok := r.byName[name]; !ok {
		return fmt.Errorf("resume %s: %w", name, ErrUnknownProjection)
	}
	if err := Resume(ctx, r.cfg.Pool, name); err != nil {
		return err
	}
	r.mu.Lock()
	if r.sub != nil {
		r.sub.wake(name)
	}
	r.mu.Unlock()
	return nil
}

// Status reports the runtime's projections.
func (r *Runtime) Status(ctx context.Context) ([]ProjectionStatus, error) {
	return Status(ctx, r.cfg.Pool, r.cfg.Store, r.Names()...)
}

// Rebuild rebuilds the projection name blue/green (see Rebuild).
func (r *Runtime) Rebuild(ctx context.Context, name string, progress func(done, total uint64)) error {
	p, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("rebuild %s: %w", name, ErrUnknownProjection)
	}
	return Rebuild(ctx, RebuildConfig{
		Pool: r.cfg.Pool, Store: r.cfg.Store, Projection: p, Progress: progress,
		Logger: r.cfg.Logger,
	})
}

// lagLoop refreshes the lag gauges.
func (r *Runtime) lagLoop(ctx context.Context) {
	if r.cfg.Metrics == nil {
		return
	}
	t := time.NewTicker(r.cfg.LagInterval)
	defer t.Stop()
	for {
		if st, err := r.Status(ctx); err == nil {
			for _, s := range st {
				r.cfg.Metrics.observeLag(s)
			}
		} else if ctx.Err() == nil {
			r.cfg.Logger.Warn("projection lag", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
