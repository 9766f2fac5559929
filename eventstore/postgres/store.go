// Package postgres is Palimpsest's PostgreSQL event store: an
// eventstore.Store over three tables (es_streams, es_events, es_head) and
// one PL/pgSQL function that appends in a single round trip.
//
// Global positions are dense (1, 2, 3, …) and become visible strictly in
// order: every append transaction takes the single es_head row lock after
// its stream version checks and holds it until commit, so a transaction
// that got a lower position has always committed before one with a higher
// position can. Concurrent appends of one Store are group-committed: one
// committer goroutine runs all pending appends in one transaction with one
// commit flush (see batch.go); the store also runs ANALYZE on its tables in
// the background as they grow (see analyze.go). A subscriber reading "position > last" therefore never skips an
// event. Subscribers are woken by LISTEN/NOTIFY over one dedicated
// connection per Store (and directly by appends of the same Store) and read
// in pages; they never sleep-poll.
package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Defaults for Options.
const (
	DefaultPageSize       = 1000
	DefaultSafetyInterval = 5 * time.Second
	DefaultBuffer         = 256
	DefaultMaxConns       = 16
	defaultReadAllLimit   = 1000
)

// notifyChannel is the LISTEN/NOTIFY channel es_append notifies on.
const notifyChannel = "es_events"

// Options configure a Store.
type Options struct {
	eventstore.Options
	// PageSize is how many events a subscription reads per query while
	// catching up; 0 means DefaultPageSize.
	PageSize int
	// SafetyInterval is how long an idle subscription waits for a wake-up
	// before it looks for new events anyway (covers a lost notification
	// connection); 0 means DefaultSafetyInterval.
	SafetyInterval time.Duration
	// MaxConns is the size of the pool Open creates; 0 means
	// DefaultMaxConns. (New uses the caller's pool as it is.)
	MaxConns int
	// SkipMigrate makes Open and New skip Migrate (the schema is managed
	// elsewhere, e.g. by `cms migrate`).
	SkipMigrate bool
	// MaxBatchAppends caps how many appends one group commit takes; 0
	// means DefaultMaxBatchAppends, 1 turns group commit off.
	MaxBatchAppends int
	// MaxBatchBytes caps the event bytes (data plus metadata) of one group
	// commit, though the first append always fits; 0 means
	// DefaultMaxBatchBytes.
	MaxBatchBytes int
	// GatherDelay is how long the committer waits, at most, for as many
	// appends as its previous batch had before it starts the next batch
	// (writers answered by one commit usually append again at once); 0
	// means DefaultGatherDelay, negative means no waiting.
	GatherDelay time.Duration
}

// Validate reports whether o is usable.
func (o Options) Validate() error {
	switch {
	case o.MaxEventBytes < 0:
		return fmt.Errorf("eventstore/postgres: options: MaxEventBytes %d is negative", o.MaxEventBytes)
	case o.PageSize < 0:
		return fmt.Errorf("eventstore/postgres: options: PageSize %d is negative", o.PageSize)
	case o.MaxConns < 0:
		return fmt.Errorf("eventstore/postgres: options: MaxConns %d is negative", o.MaxConns)
	case o.SafetyInterval < 0:
		return fmt.Errorf("eventstore/postgres: options: SafetyInterval %s is negative", o.SafetyInterval)
	case o.MaxBatchAppends < 0:
		return fmt.Errorf("eventstore/postgres: options: MaxBatchAppends %d is negative", o.MaxBatchAppends)
	case o.MaxBatchBytes < 0:
		return fmt.Errorf("eventstore/postgres: options: MaxBatchBytes %d is negative", o.MaxBatchBytes)
	}
	return nil
}

func (o Options) pageSize() int {
	if o.PageSize == 0 {
		return DefaultPageSize
	}
	return o.PageSize
}

func (o Options) maxBatchAppends() int {
	if o.MaxBatchAppends == 0 {
		return DefaultMaxBatchAppends
	}
	return o.MaxBatchAppends
}

func (o Options) maxBatchBytes() int {
	if o.MaxBatchBytes == 0 {
		return DefaultMaxBatchBytes
	}
	return o.MaxBatchBytes
}

func (o Options) gatherDelay() time.Duration {
	if o.GatherDelay == 0 {
		return DefaultGatherDelay
	}
	return o.GatherDelay
}

func (o Options) safetyInterval() time.Duration {
	if o.SafetyInterval == 0 {
		return DefaultSafetyInterval
	}
	return o.SafetyInterval
}

// Store is a PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	ownsPool  bool
	opts      Options
	listener  *listener
	notifier  *notifier
	committer *committer
	analyzer  *analyzer

	closed atomic.Bool
	// woken is the highest position this store woke its subscriptions for
	// after appending it (see appended).
	woken     atomic.Uint64
	closeOnce sync.Once
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // subscription and ANALYZE goroutines

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the database at dsn with its own connection pool plus
// one dedicated connection for LISTEN, applies Migrate (unless
// opts.SkipMigrate) and returns the store. Close releases everything.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	config, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("eventstore/postgres: open: %w", err)
	}
	config.MaxConns = DefaultMaxConns
	if opts.MaxConns > 0 {
		config.MaxConns = int32(min(opts.MaxConns, math.MaxInt32))
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("eventstore/postgres: open: %w", err)
	}
	s, err := newStore(ctx, pool, true, dsn, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New returns a store over an existing pool, which the caller keeps
// owning (Close does not close it). dsn is used for the dedicated LISTEN
// connection; when empty, the pool's connection settings are used.
// New applies Migrate unless opts.SkipMigrate.
func New(ctx context.Context, pool *pgxpool.Pool, dsn string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return newStore(ctx, pool, false, dsn, opts)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, ownsPool bool, dsn string, opts Options) (*Store, error) {
	if !opts.SkipMigrate {
		if err := Migrate(ctx, pool); err != nil {
			return nil, err
		}
	}
	var connConfig *pgx.ConnConfig
	if dsn == "" {
		connConfig = pool.Config().ConnConfig.Copy()
	} else {
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("eventstore/postgres: open: parse dsn: %w", err)
		}
		connConfig = cc
	}
	s := &Store{
		pool:     pool,
		ownsPool: ownsPool,
		opts:     opts,
		subs:     make(map[*subscription]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	l, err := startListener(ctx, s.ctx, connConfig, s.notified)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.listener = l
	s.notifier = startNotifier(s.ctx, pool)
	s.analyzer = newAnalyzer(s.ctx, pool, &s.wg)
	s.committer = startCommitter(s)
	return s, nil
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close ends all subscriptions (their Err reports eventstore.ErrClosed),
// lets the group commit in progress finish (appends still queued fail with
// eventstore.ErrClosed, unwritten), stops the listener and, if Open created
// the pool, closes it. Later calls of other methods fail with
// eventstore.ErrClosed; Close itself may be called again and returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.mu.Lock()
		for sub := range s.subs {
			sub.cancel(eventstore.ErrClosed)
		}
		s.mu.Unlock()
		s.committer.stop()
		s.cancel()
		s.listener.wait()
		s.notifier.wait()
		s.wg.Wait()
		if s.ownsPool {
			s.pool.Close()
		}
	})
	return nil
}

func (s *Store) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		sub.wakeUp()
	}
}

// appended wakes the subscriptions after this store committed events up to
// pos, and remembers pos: the notification the store then sends for them
// (notifier.go) comes back to its own listener, and needs no second wake.
func (s *Store) appended(pos uint64) {
	for {
		old := s.woken.Load()
		if pos <= old || s.woken.CompareAndSwap(old, pos) {
			break
		}
	}
	s.wakeAll()
}

// notified handles a notification on notifyChannel, whose payload is the
// position some store appended up to (empty: unknown, e.g. after the
// listener reconnected). Events up to a position this store has already
// woken its subscriptions for were committed before that wake, since
// positions are given in commit order, so the subscriptions read them then.
func (s *Store) notified(payload string) {
	if p, err := strconv.ParseUint(payload, 10, 64); err == nil && p <= s.woken.Load() {
		return
	}
	s.wakeAll()
}

// opError wraps err for operation op, preferring the context's error when
// ctx ended and the store's ErrClosed when it closed meanwhile.
func (s *Store) opError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("eventstore/postgres: %s: %w", op, ctxErr)
	}
	if s.closed.Load() {
		return fmt.Errorf("eventstore/postgres: %s: %w", op, eventstore.ErrClosed)
	}
	return fmt.Errorf("eventstore/postgres: %s: %w", op, err)
}

// begin checks the store and ctx before an operation touches the database.
func (s *Store) begin(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("eventstore/postgres: %s: %w", op, eventstore.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("eventstore/postgres: %s: %w", op, err)
	}
	return nil
}

// Expected-version kinds as es_append's p_kind.
const (
	kindAny          int16 = 0
	kindNoStream     int16 = 1
	kindStreamExists int16 = 2
	kindExact        int16 = 3
)

// es_append result statuses.
const (
	statusAppended   int16 = 0
	statusIdempotent int16 = 1
	statusWrongVer   int16 = 2
	statusIDConflict int16 = 3
)

// Append implements eventstore.Store. Appends are validated here and then
// group-committed (see batch.go): the result is returned only after the
// transaction that wrote the events has committed.
//
// Cancellation: if ctx ends while the append is still queued, Append
// returns ctx's error and nothing is written. Once the committer has taken
// the append into a batch it is sent to the database regardless of ctx, and
// Append waits for and returns its real outcome, so a caller never has to
// guess whether a cancelled append was written.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	op := "append to " + stream
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: append: %w", err)
	}
	if err := eventstore.ValidateEvents(events, s.opts.Options); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: %w", op, err)
	}
	if err := s.begin(ctx, op); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &appendRequest{
		ctx:    ctx,
		stream: stream,
		ids:    make([]uuid.UUID, len(events)),
		types:  make([]string, len(events)),
		data:   make([][]byte, len(events)),
		meta:   make([][]byte, len(events)),
		done:   make(chan appendOutcome, 1),
	}
	r.kind, r.exp = expectedArgs(expected)
	for i, e := range events {
		// PostgreSQL's json type needs valid UTF-8 (encoding/json does not check it).
		if !utf8.Valid(e.Data) || !utf8.Valid(e.Metadata) {
			return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: %w: event %d is not valid UTF-8", op, eventstore.ErrInvalidEvent, i)
		}
		r.ids[i], r.types[i] = e.ID, e.Type
		if len(e.Data) > 0 {
			r.data[i] = e.Data
		}
		if len(e.Metadata) > 0 {
			r.meta[i] = e.Metadata
		}
		r.bytes += len(e.Data) + len(e.Metadata)
	}
	if err := s.committer.enqueue(r); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: %w", op, err)
	}
	var o appendOutcome
	select {
	case o = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqWithdrawn) {
			return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: %w", op, ctx.Err())
		}
		o = <-r.done // already sent: report what happened
	}
	return appendResult(op, stream, expected, o)
}

// appendResult turns an es_append outcome into Append's result.
func appendResult(op, stream string, expected eventstore.ExpectedVersion, o appendOutcome) (eventstore.AppendResult, error) {
	if o.err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: %w", op, o.err)
	}
	status, version, position := o.status, o.version, o.position
	switch status {
	case statusAppended, statusIdempotent:
		if version == nil || position == nil {
			return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: es_append returned no position", op)
		}
		return eventstore.AppendResult{NextVersion: uint64(*version), Position: eventstore.Position(*position)}, nil
	case statusWrongVer:
		var actual uint64
		if version != nil {
			actual = uint64(*version)
		}
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %w", &eventstore.WrongExpectedVersionError{
			Stream: stream, Expected: expected, Actual: actual, ActualKnown: version != nil,
		})
	case statusIDConflict:
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: %w: an event ID is already used in another stream", op, eventstore.ErrInvalidEvent)
	default:
		return eventstore.AppendResult{}, fmt.Errorf("eventstore/postgres: %s: es_append returned unknown status %d", op, status)
	}
}

func expectedArgs(e eventstore.ExpectedVersion) (int16, int64) {
	switch {
	case e.IsAny():
		return kindAny, 0
	case e.IsNoStream():
		return kindNoStream, 0
	case e.IsStreamExists():
		return kindStreamExists, 0
	}
	v, _ := e.ExactVersion()
	if v > math.MaxInt64 {
		v = math.MaxInt64 // no stream can be that long: the check fails
	}
	return kindExact, int64(v)
}

const selectEvents = "SELECT position, event_id, stream_id, version, type, data, metadata, recorded_at FROM es_events "

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	op := "read stream " + stream
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, fmt.Errorf("eventstore/postgres: read stream: %w", err)
	}
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	var limit *int64
	if opts.Limit > 0 {
		l := int64(opts.Limit)
		limit = &l
	}
	from := int64(min(opts.From, math.MaxInt64))
	var q string
	switch opts.Direction {
	case eventstore.Forwards:
		q = selectEvents + "WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3"
	case eventstore.Backwards:
		if from == 0 {
			from = math.MaxInt64
		}
		q = selectEvents + "WHERE stream_id = $1 AND version <= $2 ORDER BY version DESC LIMIT $3"
	default:
		return nil, fmt.Errorf("eventstore/postgres: %s: unknown direction %d", op, opts.Direction)
	}
	events, err := s.query(ctx, q, stream, from, limit)
	if err != nil {
		return nil, s.opError(ctx, op, err)
	}
	if len(events) == 0 {
		var exists bool
		err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM es_streams WHERE stream_id = $1)", stream).Scan(&exists)
		if err != nil {
			return nil, s.opError(ctx, op, err)
		}
		if !exists {
			return nil, fmt.Errorf("eventstore/postgres: %s: %w", op, eventstore.ErrStreamNotFound)
		}
	}
	return events, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	if err := s.begin(ctx, "read all"); err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultReadAllLimit
	}
	events, err := s.readPage(ctx, s.pool, opts.After, opts.StreamPrefixes, limit)
	if err != nil {
		return nil, s.opError(ctx, "read all", err)
	}
	return events, nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := s.begin(ctx, "head"); err != nil {
		return 0, err
	}
	var p int64
	if err := s.pool.QueryRow(ctx, "SELECT position FROM es_head").Scan(&p); err != nil {
		return 0, s.opError(ctx, "head", err)
	}
	return eventstore.Position(p), nil
}

// querier is what readPage needs from a pool or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readPage returns up to limit events after position after, of streams
// matching prefixes (all when empty), in position order.
func (s *Store) readPage(ctx context.Context, q querier, after eventstore.Position, prefixes []string, limit int) ([]eventstore.RecordedEvent, error) {
	from := int64(min(uint64(after), math.MaxInt64))
	if len(prefixes) == 0 {
		return queryEvents(ctx, q, limit, selectEvents+"WHERE position > $1 ORDER BY position LIMIT $2", from, limit)
	}
	return queryEvents(ctx, q, limit, selectEvents+"WHERE position > $1 AND stream_id LIKE ANY($3) ORDER BY position LIMIT $2",
		from, limit, likePrefixes(prefixes))
}

// readFilteredPage is readPage for a non-empty prefix filter, bounded by
// the committed head it reads first. When the page is not full, every event
// up to the returned head has been looked at, so a subscriber may resume
// after it instead of rescanning events its filter skipped.
func (s *Store) readFilteredPage(ctx context.Context, after eventstore.Position, prefixes []string, limit int) ([]eventstore.RecordedEvent, eventstore.Position, error) {
	var head int64
	if err := s.pool.QueryRow(ctx, "SELECT position FROM es_head").Scan(&head); err != nil {
		return nil, 0, err
	}
	from := int64(min(uint64(after), math.MaxInt64))
	if head <= from {
		return nil, after, nil
	}
	events, err := queryEvents(ctx, s.pool, limit,
		selectEvents+"WHERE position > $1 AND position <= $4 AND stream_id LIKE ANY($3) ORDER BY position LIMIT $2",
		from, limit, likePrefixes(prefixes), head)
	return events, eventstore.Position(head), err
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]eventstore.RecordedEvent, error) {
	return queryEvents(ctx, s.pool, 0, sql, args...)
}

func queryEvents(ctx context.Context, q querier, sizeHint int, sql string, args ...any) ([]eventstore.RecordedEvent, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// A live subscription reads a page after every append, and most reads
	// return an event or two: start small rather than allocate (and clear)
	// a whole page each time; full pages grow by doubling.
	events := make([]eventstore.RecordedEvent, 0, min(sizeHint, 16))
	var d eventDecoder
	fast := !genericScan.Load() && d.usable(rows.FieldDescriptions())
	for rows.Next() {
		var e eventstore.RecordedEvent
		if fast {
			if err := d.decode(rows.RawValues(), &e); err != nil {
				return nil, err
			}
		} else {
			var pos, ver int64
			if err := rows.Scan(&pos, &e.ID, &e.StreamID, &ver, &e.Type, &e.Data, &e.Metadata, &e.RecordedAt); err != nil {
				return nil, err
			}
			e.Position, e.Version, e.RecordedAt = eventstore.Position(pos), uint64(ver), e.RecordedAt.UTC()
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, nil
}

// likePrefixes turns stream-name prefixes into LIKE patterns.
func likePrefixes(prefixes []string) []string {
	patterns := make([]string, len(prefixes))
	for i, p := range prefixes {
		patterns[i] = likeEscaper.Replace(p) + "%"
	}
	return patterns
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
