// Package esdb implements eventstore.Store on EventStoreDB through the
// official gRPC client, github.com/EventStore/EventStore-Client-Go/v4/esdb.
//
// Mapping:
//
//   - Versions: eventstore versions are 1-based counts (0 = no stream);
//     EventStoreDB revisions are 0-based. Version = revision + 1, and
//     Exact(v) is esdb.Revision(v-1).
//   - Positions: eventstore.Position is the event's $all commit position.
//     Every event appended through gRPC is a self-committing prepare
//     record, for which EventStoreDB reports commit == prepare == the
//     record's own log offset (AllReader builds its TFPos from the event's
//     LogPosition), so the commit position alone is unique and strictly
//     increasing in $all order, also across the events of one multi-event
//     append. A position maps back as esdb.Position{Commit: p, Prepare: p}.
//     Reads of $all from a position are inclusive, subscriptions from a
//     position exclusive; the adapter additionally drops anything at or
//     before the requested position, so both behaviours give "after".
//   - Errors: WrongExpectedVersion is detected with errors.As into
//     *esdb.Error and its Code() and becomes *eventstore.WrongExpectedVersionError;
//     stream not found (or deleted) becomes eventstore.ErrStreamNotFound.
//   - System events (streams starting with '$') are never returned: $all
//     reads filter them client-side, subscriptions use a server-side stream
//     filter and re-check client-side, and Head skips them.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Options configure a Store.
type Options struct {
	eventstore.Options
	// Logger receives the client library's log lines (debug and info at
	// Debug level). Nil discards them.
	Logger *slog.Logger
	// ReadPageSize is how many events one $all read request asks for while
	// scanning; 0 means 500.
	ReadPageSize int
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.MaxEventBytes < 0 {
		return fmt.Errorf("esdb options: MaxEventBytes must not be negative, got %d", o.MaxEventBytes)
	}
	if o.ReadPageSize < 0 {
		return fmt.Errorf("esdb options: ReadPageSize must not be negative, got %d", o.ReadPageSize)
	}
	return nil
}

func (o Options) pageSize() int {
	if o.ReadPageSize == 0 {
		return 500
	}
	return o.ReadPageSize
}

// defaultReadAllLimit is ReadAll's limit when the caller gives none.
const defaultReadAllLimit = 1000

// Store is an eventstore.Store on EventStoreDB.
type Store struct {
	client *esdb.Client
	opts   Options

	// life ends when Close is called; every operation and subscription runs
	// under a context that ends with it, and Close waits for them (ops)
	// before closing the client.
	life      context.Context
	kill      context.CancelFunc
	mu        sync.Mutex
	closed    bool
	ops       sync.WaitGroup
	closeOnce sync.Once
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to EventStoreDB. connString is an esdb:// or esdb+discover://
// connection string (for example "esdb://localhost:2113?tls=false").
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("esdb: open: %w", err)
	}
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return nil, fmt.Errorf("esdb: open: parse connection string: %w", err)
	}
	cfg.Logger = clientLogger(opts.Logger)
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: open: %w", err)
	}
	life, kill := context.WithCancel(context.Background())
	s := &Store{client: client, opts: opts, life: life, kill: kill}
	// Connect now (the client connects lazily) so a wrong address fails here.
	if _, err := s.Head(ctx); err != nil {
		kill()
		_ = client.Close()
		return nil, fmt.Errorf("esdb: open: %w", err)
	}
	return s, nil
}

func clientLogger(l *slog.Logger) esdb.LoggingFunc {
	if l == nil {
		return esdb.NoopLogging()
	}
	return func(level esdb.LogLevel, format string, args ...any) {
		lv := slog.LevelDebug
		switch level {
		case esdb.LogWarn:
			lv = slog.LevelWarn
		case esdb.LogError:
			lv = slog.LevelError
		}
		l.Log(context.Background(), lv, fmt.Sprintf(format, args...), "component", "esdb-client")
	}
}

// Close ends all subscriptions and in-flight calls, then closes the client.
// Later calls fail with eventstore.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.kill()
		s.mu.Unlock()
		s.ops.Wait()
		_ = s.client.Close()
	})
	return nil
}

// begin registers an operation. It returns a context that is also cancelled
// when the store closes, and the function that ends the operation.
func (s *Store) begin(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, eventstore.ErrClosed
	}
	s.ops.Add(1)
	opCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.life, func() { cancel(eventstore.ErrClosed) })
	return opCtx, func() {
		stop()
		cancel(nil)
		s.ops.Done()
	}, nil
}

// failure turns an error of the client into the store's error for op.
func (s *Store) failure(ctx, opCtx context.Context, op string, err error) error {
	if errors.Is(context.Cause(opCtx), eventstore.ErrClosed) {
		return fmt.Errorf("esdb: %s: %w", op, eventstore.ErrClosed)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("esdb: %s: %w", op, ctx.Err())
	}
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		switch esErr.Code() {
		case esdb.ErrorCodeResourceNotFound, esdb.ErrorCodeStreamDeleted:
			return fmt.Errorf("esdb: %s: %w", op, eventstore.ErrStreamNotFound)
		case esdb.ErrorCodeDeadlineExceeded:
			return fmt.Errorf("esdb: %s: %w", op, context.DeadlineExceeded)
		}
	}
	return fmt.Errorf("esdb: %s: %w", op, err)
}

func expectedRevision(e eventstore.ExpectedVersion) esdb.ExpectedRevision {
	switch {
	case e.IsAny():
		return esdb.Any{}
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	v, _ := e.ExactVersion()
	return esdb.Revision(v - 1)
}

// Append writes events to stream if it satisfies expected.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	op := "append to " + strconv.Quote(stream)
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: %s: %w", op, err)
	}
	if err := eventstore.ValidateEvents(events, s.opts.Options); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: %s: %w", op, err)
	}
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: %s: %w", op, err)
	}
	defer end()

	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		data[i] = esdb.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    e.Metadata,
		}
	}
	res, err := s.client.AppendToStream(opCtx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}, data...)
	if err != nil {
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion {
			wev := &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected}
			wev.Actual, wev.ActualKnown = actualVersion(esErr)
			return eventstore.AppendResult{}, fmt.Errorf("esdb: %s: %w", op, wev)
		}
		return eventstore.AppendResult{}, s.failure(ctx, opCtx, op, err)
	}
	result := eventstore.AppendResult{
		NextVersion: res.NextExpectedVersion + 1,
		Position:    eventstore.Position(res.CommitPosition),
	}
	if res.CommitPosition == 0 || res.CommitPosition == math.MaxUint64 {
		// An idempotent re-append reports no position: look up the last
		// event of the original write.
		evs, err := s.readStream(ctx, opCtx, stream, esdb.Backwards, esdb.Revision(res.NextExpectedVersion), 1)
		if err != nil {
			return eventstore.AppendResult{}, s.failure(ctx, opCtx, op+": position of idempotent append", err)
		}
		if len(evs) == 0 {
			return eventstore.AppendResult{}, fmt.Errorf("esdb: %s: event %d missing after idempotent append", op, result.NextVersion)
		}
		result.Position = evs[0].Position
	}
	return result, nil
}

// actualVersion extracts the stream's version from the client's
// wrong-expected-version error, whose text ends "but got '<revision>'" or
// "but got 'no_stream'". The client keeps no structured field for it.
func actualVersion(err *esdb.Error) (uint64, bool) {
	if err.Err() == nil {
		return 0, false
	}
	msg := err.Err().Error()
	const marker = "but got '"
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return 0, false
	}
	got := strings.TrimSuffix(msg[i+len(marker):], "'")
	if got == "no_stream" {
		return 0, true
	}
	rev, perr := strconv.ParseInt(got, 10, 64)
	if perr != nil || rev < 0 {
		return 0, false
	}
	return uint64(rev) + 1, true
}

// ReadStream returns events of one stream.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	op := "read stream " + strconv.Quote(stream)
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, fmt.Errorf("esdb: %s: %w", op, err)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("esdb: %s: negative limit %d", op, opts.Limit)
	}
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("esdb: %s: %w", op, err)
	}
	defer end()

	dir := esdb.Forwards
	var from esdb.StreamPosition = esdb.Start{}
	if opts.Direction == eventstore.Backwards {
		dir = esdb.Backwards
		from = esdb.End{}
	}
	if opts.From > 0 {
		from = esdb.Revision(opts.From - 1)
	}
	count := uint64(math.MaxInt64)
	if opts.Limit > 0 {
		count = uint64(opts.Limit)
	}
	evs, err := s.readStream(ctx, opCtx, stream, dir, from, count)
	if err != nil {
		return nil, s.failure(ctx, opCtx, op, err)
	}
	return evs, nil
}

// readStream reads up to count events of stream; the error is the client's.
func (s *Store) readStream(ctx, opCtx context.Context, stream string, dir esdb.Direction, from esdb.StreamPosition, count uint64) ([]eventstore.RecordedEvent, error) {
	rs, err := s.client.ReadStream(opCtx, stream, esdb.ReadStreamOptions{Direction: dir, From: from}, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []eventstore.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, toRecorded(ev))
	}
}

// ReadAll returns events of the global log after opts.After in position order.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	const op = "read all"
	if opts.Limit < 0 {
		return nil, fmt.Errorf("esdb: %s: negative limit %d", op, opts.Limit)
	}
	limit := opts.Limit
	if limit == 0 {
		limit = defaultReadAllLimit
	}
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("esdb: %s: %w", op, err)
	}
	defer end()

	page := uint64(max(s.opts.pageSize(), limit))
	after := opts.After
	var out []eventstore.RecordedEvent
	for len(out) < limit {
		var from esdb.AllPosition = esdb.Start{}
		if after > 0 {
			from = esdb.Position{Commit: uint64(after), Prepare: uint64(after)}
		}
		rs, err := s.client.ReadAll(opCtx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: from}, page)
		if err != nil {
			return nil, s.failure(ctx, opCtx, op, err)
		}
		n := uint64(0)
		for len(out) < limit {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return nil, s.failure(ctx, opCtx, op, err)
			}
			n++
			rec := toRecorded(ev)
			if rec.Position <= after {
				continue
			}
			after = rec.Position
			if isSystem(rec.StreamID) || !eventstore.MatchesPrefix(rec.StreamID, opts.StreamPrefixes) {
				continue
			}
			out = append(out, rec)
		}
		rs.Close()
		if n < page {
			break // end of the log
		}
	}
	return out, nil
}

// Head returns the position of the last non-system event (0 when none).
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	const op = "head"
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("esdb: %s: %w", op, err)
	}
	defer end()

	const page = 100
	var from esdb.AllPosition = esdb.End{}
	for {
		rs, err := s.client.ReadAll(opCtx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from}, page)
		if err != nil {
			return 0, s.failure(ctx, opCtx, op, err)
		}
		n := 0
		var last *esdb.RecordedEvent
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return 0, s.failure(ctx, opCtx, op, err)
			}
			n++
			last = ev.OriginalEvent()
			if !isSystem(last.StreamID) {
				rs.Close()
				return eventstore.Position(last.Position.Commit), nil
			}
		}
		rs.Close()
		if n < page || last == nil {
			return 0, nil
		}
		// Backwards reads from a position return the events before it.
		from = last.Position
	}
}

func isSystem(stream string) bool { return strings.HasPrefix(stream, "$") }

func toRecorded(ev *esdb.ResolvedEvent) eventstore.RecordedEvent {
	e := ev.OriginalEvent()
	pos := e.Position.Commit
	if pos == math.MaxUint64 {
		// Older servers leave the commit position out of stream
		// reads; the prepare position is the event's own for gRPC writes.
		pos = e.Position.Prepare
	}
	if pos == math.MaxUint64 {
		pos = 0 // unknown
	}
	return eventstore.RecordedEvent{
		ID:         e.EventID,
		StreamID:   e.StreamID,
		Version:    e.EventNumber + 1,
		Position:   eventstore.Position(pos),
		Type:       e.EventType,
		Data:       e.Data,
		Metadata:   e.UserMetadata,
		RecordedAt: e.CreatedDate.UTC(),
	}
}
