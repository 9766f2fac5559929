package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Group commit.
//
// Every append takes the es_head row lock and holds it through its commit's
// WAL flush, so one transaction per append would cap a Store at about one
// append per flush. Instead Append queues its (validated) request and one
// committer goroutine per Store runs everything queued, up to
// DefaultMaxBatchAppends appends or DefaultMaxBatchBytes bytes, as one call
// of es_append_batch: one statement, one transaction, one commit flush. Each
// caller gets its own result only after that commit returned, so a result
// is as durable as before, and since the batch takes es_head once, late,
// positions remain dense and visible in order.
//
// Appends of one batch are independent: es_append_batch reports a refused
// append (wrong expected version, idempotent re-append, ID used in another
// stream) as its status instead of raising, so the others commit. When the
// batch statement fails anyway (for example a writer in another process
// inserted one of the IDs first, or a deadlock with another process's
// batch), the committer runs that batch's appends again one by one with
// es_append, so a bad append can only fail itself.

// Defaults for Options' batch caps.
const (
	DefaultMaxBatchAppends = 256
	DefaultMaxBatchBytes   = 4 << 20
	DefaultGatherDelay     = 300 * time.Microsecond
)

// Request states: a caller may withdraw its request only while it is queued.
const (
	reqQueued int32 = iota
	reqTaken
	reqWithdrawn
)

// appendRequest is one Append call waiting for the committer.
type appendRequest struct {
	ctx    context.Context
	stream string
	kind   int16
	exp    int64
	ids    []uuid.UUID
	types  []string
	data   [][]byte
	meta   [][]byte
	bytes  int

	state atomic.Int32
	done  chan appendOutcome // buffered, receives exactly one outcome once taken
}

// appendOutcome is es_append's answer for one append, or the error that
// prevented it.
type appendOutcome struct {
	status            int16
	version, position *int64
	err               error
}

// committer owns the queue of pending appends and the goroutine that runs
// them in batches.
type committer struct {
	store *Store

	mu      sync.Mutex
	queue   []*appendRequest
	stopped bool

	kick chan struct{}
	quit chan struct{}
	done chan struct{}

	batches atomic.Int64 // batches run (statistics for tests and benchmarks)
}

func startCommitter(s *Store) *committer {
	c := &committer{store: s, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// enqueue adds r to the queue; it fails with eventstore.ErrClosed once the
// committer is stopping.
func (c *committer) enqueue(r *appendRequest) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return eventstore.ErrClosed
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// stop makes the committer finish the batch it is running, fail every
// request still queued with eventstore.ErrClosed, and exit; it returns when
// the committer has exited.
func (c *committer) stop() {
	close(c.quit)
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	want := 0 // appends answered by the last batch
	for {
		select {
		case <-c.quit:
			c.failQueued()
			return
		default:
		}
		select {
		case <-c.kick:
		case <-c.quit:
			c.failQueued()
			return
		}
		c.gather(want)
		if batch := c.take(); len(batch) > 0 {
			c.batches.Add(1)
			c.store.runBatch(batch)
			want = len(batch)
			// Look again: more may have queued meanwhile.
			select {
			case c.kick <- struct{}{}:
			default:
			}
		} else {
			want = 0
		}
	}
}

// gather waits until want appends are queued, at most Options.GatherDelay. The
// callers answered by the last batch usually append again at once; without
// the wait, the first of them would start a batch alone and the writers
// would split into two groups committing alternately, each commit carrying
// half of them (measured: 4 appends per batch with 8 writers, instead of 8).
func (c *committer) gather(want int) {
	delay := c.store.opts.gatherDelay()
	if want <= 1 || delay <= 0 || c.queued() >= want {
		return
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for c.queued() < want {
		select {
		case <-c.kick:
		case <-t.C:
			return
		case <-c.quit:
			return
		}
	}
}

func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// failQueued stops the queue and answers what is still in it with
// eventstore.ErrClosed: none of it was sent.
func (c *committer) failQueued() {
	c.mu.Lock()
	c.stopped = true
	queue := c.queue
	c.queue = nil
	c.mu.Unlock()
	for _, r := range queue {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			r.done <- appendOutcome{err: eventstore.ErrClosed}
		}
	}
}

// take removes the next batch from the queue: requests in order, up to the
// caps (the first always fits), stopping before a request that repeats an
// event ID of the batch (es_append_batch needs distinct IDs; the repeat
// goes into the next batch, where it sees the first as committed).
// Withdrawn requests are dropped; requests whose context has ended are
// answered with the context's error.
func (c *committer) take() []*appendRequest {
	maxAppends, maxBytes := c.store.opts.maxBatchAppends(), c.store.opts.maxBatchBytes()
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		batch []*appendRequest
		bytes int
		ids   map[uuid.UUID]struct{}
	)
	i := 0
scan:
	for ; i < len(c.queue) && len(batch) < maxAppends; i++ {
		r := c.queue[i]
		if r.state.Load() != reqQueued {
			continue // withdrawn
		}
		if len(batch) > 0 {
			if bytes+r.bytes > maxBytes {
				break
			}
			if ids == nil {
				ids = make(map[uuid.UUID]struct{})
				for _, b := range batch {
					for _, id := range b.ids {
						ids[id] = struct{}{}
					}
				}
			}
			for _, id := range r.ids {
				if _, dup := ids[id]; dup {
					break scan
				}
			}
		}
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // withdrawn meanwhile
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- appendOutcome{err: err}
			continue
		}
		batch = append(batch, r)
		bytes += r.bytes
		if ids != nil {
			for _, id := range r.ids {
				ids[id] = struct{}{}
			}
		}
	}
	n := copy(c.queue, c.queue[i:])
	clear(c.queue[n:])
	c.queue = c.queue[:n]
	return batch
}

// runBatch runs batch as one es_append_batch statement and answers every
// request; on an unexpected failure it falls back to one es_append per
// request.
func (s *Store) runBatch(batch []*appendRequest) {
	ctx := s.ctx
	outcomes, err := s.appendBatch(ctx, batch)
	if err != nil {
		for _, r := range batch {
			r.done <- s.appendOne(ctx, r)
		}
		return
	}
	var last, appended int64
	for i, r := range batch {
		o := outcomes[i]
		if o.status == statusAppended && o.position != nil {
			last = max(last, *o.position)
			appended += int64(len(r.ids))
		}
		r.done <- o
	}
	if appended > 0 {
		s.appended(uint64(last))
		s.notifier.announce(uint64(last))
		s.analyzer.add(appended)
	}
}

// appendBatch runs es_append_batch for batch. Its outcomes are valid only
// when err is nil: the rows are read to the end, so the commit has returned.
func (s *Store) appendBatch(ctx context.Context, batch []*appendRequest) ([]appendOutcome, error) {
	var events int
	for _, r := range batch {
		events += len(r.ids)
	}
	streams := make([]string, len(batch))
	kinds := make([]int16, len(batch))
	exps := make([]int64, len(batch))
	counts := make([]int32, len(batch))
	ids := make([]uuid.UUID, 0, events)
	types := make([]string, 0, events)
	data := make([][]byte, 0, events)
	meta := make([][]byte, 0, events)
	for i, r := range batch {
		streams[i], kinds[i], exps[i], counts[i] = r.stream, r.kind, r.exp, int32(len(r.ids))
		ids = append(ids, r.ids...)
		types = append(types, r.types...)
		data = append(data, r.data...)
		meta = append(meta, r.meta...)
	}
	rows, err := s.pool.Query(ctx, "SELECT o_status, o_version, o_position FROM es_append_batch($1, $2, $3, $4, $5, $6, $7, $8)",
		streams, kinds, exps, counts, ids, types, data, meta)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	outcomes := make([]appendOutcome, 0, len(batch))
	for rows.Next() {
		var o appendOutcome
		if err := rows.Scan(&o.status, &o.version, &o.position); err != nil {
			return nil, err
		}
		outcomes = append(outcomes, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(outcomes) != len(batch) {
		return nil, fmt.Errorf("es_append_batch returned %d results for %d appends", len(outcomes), len(batch))
	}
	return outcomes, nil
}

// appendOne runs one request on its own with es_append, in its own
// transaction. A unique violation means a concurrent append wrote some of
// its event IDs first; the committed state then decides whether this
// append is an idempotent repeat of it.
func (s *Store) appendOne(ctx context.Context, r *appendRequest) appendOutcome {
	var o appendOutcome
	err := s.pool.QueryRow(ctx, "SELECT o_status, o_version, o_position FROM es_append($1, $2, $3, $4, $5, $6, $7)",
		r.stream, r.kind, r.exp, r.ids, r.types, r.data, r.meta).Scan(&o.status, &o.version, &o.position)
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" || ctx.Err() != nil {
			return appendOutcome{err: err}
		}
		err = s.pool.QueryRow(ctx, "SELECT o_status, o_version, o_position FROM es_existing($1, $2, $3, $4)",
			r.stream, r.kind, r.exp, r.ids).Scan(&o.status, &o.version, &o.position)
		if err != nil {
			return appendOutcome{err: err}
		}
		if o.status == statusAppended { // none exist after all: nothing was written
			return appendOutcome{err: pgErr}
		}
		return o
	}
	if o.status == statusAppended && o.position != nil {
		s.appended(uint64(*o.position))
		s.notifier.announce(uint64(*o.position))
		s.analyzer.add(int64(len(r.ids)))
	}
	return o
}
