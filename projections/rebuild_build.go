package projections

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// rebuild is one run of Rebuild.
type rebuild struct {
	cfg     RebuildConfig
	ps      []Projection
	scratch string
	tables  []*scratchTable
	owner   []int // per table: index into ps of its projection
	total   eventstore.Position
	pos     eventstore.Position // last position taken into account
	applied []uint64            // events applied, per projection

	loadedMu sync.Mutex
	unloaded int       // projections whose tables are not complete yet
	loadedAt time.Time // when the last one was

	progressMu sync.Mutex
	reported   uint64
}

const (
	// buildTxEvents is how many log events a projection that is not bulk
	// loaded applies per transaction while building: large transactions,
	// and for Batcher projections large batches (the posts projection
	// renders each post once per batch).
	buildTxEvents = 20_000
	// copyChunk is the size of the pieces of COPY data handed from a bulk
	// load to the connection streaming them.
	copyChunk = 256 << 10
	// pagesAhead bounds the pages read and decoded ahead of the slowest
	// projection (memory: pages of BatchSize events): queued for the
	// decoders and the dispatcher, and queued for each projection.
	pagesAhead, pagesQueued = 2, 1
	// catchUpRounds bounds the catch-up rounds before the pause: writers
	// may append faster than a round applies.
	catchUpRounds = 5
)

// page is a run of the log, decoded by one of the decoders and then handed
// to every projection.
type page struct {
	recs    []eventstore.RecordedEvent
	evs     []Event
	last    eventstore.Position // every position up to here is in this page or before
	err     error
	decoded chan struct{}
}

// progress reports the position every projection has reached.
func (b *rebuild) progress(done eventstore.Position) {
	if b.cfg.Progress == nil {
		return
	}
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	d := uint64(min(done, b.total))
	if d < b.reported {
		return
	}
	b.reported = d
	b.cfg.Progress(d, uint64(b.total))
}

// build runs phase 1: every event up to b.total into the scratch tables,
// then their indexes and statistics. A reader fetches pages, decoders
// decode them in parallel (in order), and a dispatcher hands each page to
// one goroutine per projection. As soon as a projection's tables are
// complete, their indexes are built and they are analyzed (see
// indexScheduler), while the others are still loading.
func (b *rebuild) build(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		failOnce sync.Once
		failure  error
	)
	fail := func(err error) {
		failOnce.Do(func() { failure = err })
		cancel(err)
	}
	run := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				fail(err)
			}
		})
	}

	sched := b.newIndexScheduler()
	defer context.AfterFunc(ctx, sched.stop)()
	for range min(indexWorkers, sched.left) {
		run(func() error { return b.runIndexJobs(ctx, sched) })
	}
	b.unloaded = len(b.ps)

	ordered, work := make(chan *page, pagesAhead), make(chan *page, pagesAhead)
	run(func() error { return b.readPages(ctx, b.total, ordered, work) })
	for range decoders() {
		run(func() error {
			for pg := range work {
				pg.evs, pg.err = b.decodePage(pg.recs)
				pg.recs = nil // the events keep what they need
				close(pg.decoded)
			}
			return nil
		})
	}
	reached := make([]atomic.Uint64, len(b.ps))
	done := func(i int, pos eventstore.Position) {
		reached[i].Store(uint64(pos))
		low := uint64(pos)
		for j := range reached {
			low = min(low, reached[j].Load())
		}
		b.progress(eventstore.Position(low))
	}
	inputs := make([]chan *page, len(b.ps))
	for i, p := range b.ps {
		inputs[i] = make(chan *page, pagesQueued)
		if bl, ok := p.(BulkLoader); ok {
			b.runBulk(ctx, run, i, bl, bl.NewBulkLoad(), inputs[i], done, sched)
		} else {
			run(func() error {
				if err := b.applyPages(ctx, i, p, inputs[i], done); err != nil || ctx.Err() != nil {
					return err
				}
				return b.loaded(ctx, i, nil, sched)
			})
		}
	}
	// A projection that fails stops reading its input; its failure cancels
	// ctx, which stops the dispatcher.
	run(func() error {
		defer func() {
			for _, in := range inputs {
				close(in)
			}
		}()
		for pg := range ordered {
			select {
			case <-pg.decoded:
			case <-ctx.Done():
				return nil
			}
			if pg.err != nil {
				return pg.err
			}
			for _, in := range inputs {
				select {
				case in <- pg:
				case <-ctx.Done():
					return nil
				}
			}
		}
		return nil
	})
	wg.Wait()
	if failure != nil {
		return failure
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.pos = b.total
	return nil
}

// decoders is the number of goroutines decoding pages.
func decoders() int { return max(1, min(runtime.GOMAXPROCS(0), 4)) }

// readPages reads the log after b.pos up to until, a page at a time, and
// sends each page both to the decoders and, in order, to the dispatcher.
func (b *rebuild) readPages(ctx context.Context, until eventstore.Position, ordered, work chan<- *page) error {
	defer close(ordered)
	defer close(work)
	pos := b.pos
	for pos < until {
		pg, err := b.readPage(ctx, pos, until)
		if err != nil {
			return err
		}
		pos = pg.last
		for _, ch := range []chan<- *page{ordered, work} {
			select {
			case ch <- pg:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

// readPage reads up to BatchSize events after pos, none beyond until.
func (b *rebuild) readPage(ctx context.Context, pos, until eventstore.Position) (*page, error) {
	limit := b.cfg.BatchSize
	recs, err := b.cfg.Store.ReadAll(ctx, eventstore.ReadAllOptions{After: pos, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("read log after %d: %w", pos, err)
	}
	n := len(recs)
	for n > 0 && recs[n-1].Position > until {
		n--
	}
	pg := &page{recs: recs[:n], last: until, decoded: make(chan struct{})}
	if n == limit {
		pg.last = recs[n-1].Position
	} // else nothing more up to until (positions need not be dense)
	return pg, nil
}

// decodePage decodes a page as the live runners do (see logEntry, and
// rebuildDecoder for the fast path): payloads only of the events some
// projection being rebuilt reads (see PayloadNeeds).
func (b *rebuild) decodePage(recs []eventstore.RecordedEvent) ([]Event, error) {
	evs := make([]Event, len(recs))
	var d rebuildDecoder
	for i, rec := range recs {
		var err error
		if evs[i], err = d.event(rec, b.readsPayload(rec.StreamID, rec.Type)); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// readsPayload reports whether a projection being rebuilt reads the
// payloads of events of eventType in stream.
func (b *rebuild) readsPayload(stream, eventType string) bool {
	for _, p := range b.ps {
		if eventstore.MatchesPrefix(stream, p.StreamPrefixes()) && needsPayload(p, stream, eventType) {
			return true
		}
	}
	return false
}

// connect takes a connection of its own for one writer of the rebuild
// (dedicatedConn: out of the pool for good, so the rebuild never holds the
// application's pool slots), named after purpose in pg_stat_activity.
// Close it with closeConn.
func (b *rebuild) connect(ctx context.Context, purpose string) (*pgx.Conn, error) {
	return dedicatedConn(ctx, b.cfg.Pool, "palimpsest rebuild: "+purpose)
}

// beginBuild starts a transaction writing to the scratch tables: scratch
// schema first on the search path, asynchronous commit (a rebuild that has
// not swapped is thrown away after a crash anyway).
func (b *rebuild) beginBuild(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true), set_config('synchronous_commit', 'off', true)",
		pgx.Identifier{b.scratch}.Sanitize()+", public"); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("set search path: %w", err)
	}
	return tx, nil
}

// memoryBatcher is implemented by Batcher projections whose Apply, between
// BeginBatch and FlushBatch, only buffers in memory and never touches the
// database (Posts). A rebuild then folds the next batch on a second
// connection while the previous one is being flushed and committed.
type memoryBatcher interface {
	Batcher
	batchesInMemory()
}

// applyPages applies the pages to projection i through Apply (and
// Batcher), on a connection of its own, in transactions of about
// buildTxEvents log events. For a memoryBatcher, the flush and commit of a
// batch overlap with the folding of the next one (on another connection;
// one flush at a time, in order).
func (b *rebuild) applyPages(ctx context.Context, i int, p Projection, in <-chan *page, done func(int, eventstore.Position)) (err error) {
	batcher, batched := p.(Batcher)
	_, overlap := p.(memoryBatcher)
	conns := make([]*pgx.Conn, 1, 2)
	if overlap {
		conns = conns[:2]
	}
	for c := range conns {
		if conns[c], err = b.connect(ctx, p.Name()); err != nil {
			return err
		}
		defer closeConn(conns[c])
	}
	var (
		tx       pgx.Tx
		next     int        // index of the connection of the next transaction
		read     int        // log events read in tx
		inflight chan error // result of the flush in flight
	)
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	defer func() {
		_ = wait()
		if tx != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	commit := func(tx pgx.Tx) error {
		if batched {
			if err := batcher.FlushBatch(ctx, tx); err != nil {
				_ = tx.Rollback(context.WithoutCancel(ctx))
				return fmt.Errorf("flush %s batch: %w", p.Name(), err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit %s: %w", p.Name(), err)
		}
		return nil
	}
	// end hands the transaction over to be committed: in the background
	// when overlapping, after the previous one.
	end := func() error {
		t := tx
		tx, read = nil, 0
		if err := wait(); err != nil {
			_ = t.Rollback(context.WithoutCancel(ctx))
			return err
		}
		if !overlap {
			return commit(t)
		}
		inflight = make(chan error, 1)
		go func() { inflight <- commit(t) }()
		return nil
	}
	prefixes := p.StreamPrefixes()
	var last eventstore.Position
	for pg := range in {
		if tx == nil {
			if tx, err = b.beginBuild(ctx, conns[next]); err != nil {
				return err
			}
			next = (next + 1) % len(conns)
			if batched {
				if err := batcher.BeginBatch(ctx, tx); err != nil {
					return fmt.Errorf("begin %s batch: %w", p.Name(), err)
				}
			}
		}
		for _, ev := range pg.evs {
			if !eventstore.MatchesPrefix(ev.StreamID, prefixes) {
				continue
			}
			if err := p.Apply(ctx, tx, ev); err != nil {
				return fmt.Errorf("apply %s to %s event at %d: %w", p.Name(), ev.Type, ev.Position, err)
			}
			b.applied[i]++
		}
		read += len(pg.evs)
		last = pg.last
		if read >= buildTxEvents {
			if err := end(); err != nil {
				return err
			}
		}
		done(i, last)
	}
	if err := ctx.Err(); err != nil {
		return nil // the failure is reported by whoever cancelled
	}
	if tx != nil {
		if err := end(); err != nil {
			return err
		}
	}
	if err := wait(); err != nil {
		return err
	}
	done(i, last)
	return nil
}

// runBulk starts the goroutines of a bulk-loaded projection i: one turning
// its events into COPY data, and one per table streaming that data over a
// connection of its own. The last of those to commit hands the tables on
// to be indexed.
func (b *rebuild) runBulk(ctx context.Context, run func(func() error), i int, bl BulkLoader, load BulkLoad,
	in <-chan *page, done func(int, eventstore.Position), sched *indexScheduler) {
	tables := bl.BulkTables()
	w := newBulkWriter(tables)
	free := make(chan []byte, 2*len(tables))
	chunks := make([]chan copyData, len(tables))
	var copying atomic.Int32
	copying.Store(int32(len(tables)))
	for t, table := range tables {
		chunks[t] = make(chan copyData, 2)
		run(func() error {
			if err := b.copyTable(ctx, table, chunks[t], free); err != nil {
				if errors.Is(err, errCopyAborted) {
					return nil // the producer stopped and reports why
				}
				return err
			}
			if copying.Add(-1) > 0 || ctx.Err() != nil {
				return nil
			}
			return b.loaded(ctx, i, load, sched)
		})
	}
	run(func() error {
		defer func() {
			for _, ch := range chunks {
				close(ch)
			}
		}()
		send := func(t int, final bool) bool {
			s := w.tables[t]
			if final {
				s.buf = append(s.buf, 0xff, 0xff) // end of COPY data
			}
			select {
			case chunks[t] <- copyData{b: s.buf, end: final}:
			case <-ctx.Done():
				return false
			}
			select {
			case s.buf = <-free:
				s.buf = s.buf[:0]
			default:
				s.buf = make([]byte, 0, copyChunk+copyChunk/4)
			}
			return true
		}
		prefixes := bl.StreamPrefixes()
		for pg := range in {
			for _, ev := range pg.evs {
				if !eventstore.MatchesPrefix(ev.StreamID, prefixes) {
					continue
				}
				if err := load.Add(ev, w); err != nil {
					return err
				}
				if err := w.check(); err != nil {
					return err
				}
				b.applied[i]++
				for t, s := range w.tables {
					if len(s.buf) >= copyChunk && !send(t, false) {
						return nil
					}
				}
			}
			done(i, pg.last)
		}
		if ctx.Err() != nil {
			return nil
		}
		for t := range w.tables {
			if !send(t, true) {
				return nil
			}
		}
		return nil
	})
}

// copyTable streams the COPY data of table from chunks into the scratch
// table, in one transaction (errCopyAborted if the stream ended early).
// The table is emptied in that transaction first, which lets COPY write the
// rows frozen (FREEZE): building the indexes and the first reads then need
// not set hint bits and rewrite every page.
func (b *rebuild) copyTable(ctx context.Context, table BulkTable, chunks <-chan copyData, free chan<- []byte) error {
	conn, err := b.connect(ctx, "copy "+table.Name)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	tx, err := b.beginBuild(ctx, conn)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "TRUNCATE "+pgx.Identifier{b.scratch, table.Name}.Sanitize()); err != nil {
		return fmt.Errorf("truncate %s: %w", table.Name, err)
	}
	r := &chunkReader{ctx: ctx, chunks: chunks, free: free}
	if _, err := conn.PgConn().CopyFrom(ctx, r, copySQL(b.scratch, table)); err != nil {
		if r.aborted.Load() {
			return errCopyAborted
		}
		return fmt.Errorf("copy into %s: %w", table.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit %s: %w", table.Name, err)
	}
	return nil
}

// copyData is a piece of a COPY stream; end marks the last one.
type copyData struct {
	b   []byte
	end bool
}

// chunkReader reads the pieces of a COPY stream, recycling each buffer once
// read. The stream is complete only if its last piece came before the
// channel closed; otherwise the read fails and aborted is set. (pgconn
// reads it on a goroutine of its own, which may outlive CopyFrom.)
type chunkReader struct {
	ctx     context.Context
	chunks  <-chan copyData
	free    chan<- []byte
	cur     []byte
	off     int
	ended   bool
	aborted atomic.Bool
}

var errCopyAborted = errors.New("copy aborted")

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.off == len(r.cur) {
		if r.cur != nil {
			select {
			case r.free <- r.cur:
			default:
			}
			r.cur, r.off = nil, 0
		}
		if r.ended {
			return 0, io.EOF
		}
		select {
		case c, ok := <-r.chunks:
			if !ok {
				r.aborted.Store(true)
				return 0, errCopyAborted
			}
			r.cur, r.ended = c.b, c.end
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	n := copy(p, r.cur[r.off:])
	r.off += n
	return n, nil
}

// loaded hands the tables of projection i, now complete, on to be indexed
// and analyzed, after the fix-up statements of its bulk load (if any).
func (b *rebuild) loaded(ctx context.Context, i int, load BulkLoad, sched *indexScheduler) error {
	if load != nil {
		if finish := load.Finish(); len(finish) > 0 {
			err := pgx.BeginFunc(ctx, b.cfg.Pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{b.scratch}.Sanitize()); err != nil {
					return err
				}
				for _, sql := range finish {
					if _, err := tx.Exec(ctx, sql); err != nil {
						return fmt.Errorf("%s: %w", sql, err)
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("finish bulk load of %s: %w", b.ps[i].Name(), err)
			}
		}
	}
	var tables []int
	for t, owner := range b.owner {
		if owner == i {
			tables = append(tables, t)
		}
	}
	if err := b.releaseTables(ctx, sched, tables); err != nil {
		return err
	}
	b.loadedMu.Lock()
	defer b.loadedMu.Unlock()
	if b.unloaded--; b.unloaded == 0 {
		b.loadedAt = time.Now()
	}
	return nil
}

// catchUp applies the events after b.pos up to until to every projection,
// a page per call of with, which runs the given function in the
// transaction it chooses.
func (b *rebuild) catchUp(ctx context.Context, until eventstore.Position, with func(context.Context, func(pgx.Tx) error) error) error {
	for b.pos < until {
		pg, err := b.readPage(ctx, b.pos, until)
		if err != nil {
			return err
		}
		if pg.evs, err = b.decodePage(pg.recs); err != nil {
			return err
		}
		if err := with(ctx, func(tx pgx.Tx) error { return b.applyPage(ctx, tx, pg) }); err != nil {
			return err
		}
		b.pos = pg.last
		b.progress(b.pos)
	}
	return nil
}

// applyPage applies a page to every projection in tx, through Apply and
// Batcher, with the scratch schema first on the search path.
func (b *rebuild) applyPage(ctx context.Context, tx pgx.Tx, pg *page) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{b.scratch}.Sanitize()+", public"); err != nil {
		return fmt.Errorf("set search path: %w", err)
	}
	for i, p := range b.ps {
		batcher, batched := p.(Batcher)
		if batched {
			if err := batcher.BeginBatch(ctx, tx); err != nil {
				return fmt.Errorf("begin %s batch: %w", p.Name(), err)
			}
		}
		for _, ev := range pg.evs {
			if !eventstore.MatchesPrefix(ev.StreamID, p.StreamPrefixes()) {
				continue
			}
			if err := p.Apply(ctx, tx, ev); err != nil {
				return fmt.Errorf("apply %s to %s event at %d: %w", p.Name(), ev.Type, ev.Position, err)
			}
			b.applied[i]++
		}
		if batched {
			if err := batcher.FlushBatch(ctx, tx); err != nil {
				return fmt.Errorf("flush %s batch up to %d: %w", p.Name(), pg.last, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', 'public', true)"); err != nil {
		return fmt.Errorf("reset search path: %w", err)
	}
	return nil
}

// catchUpUnlocked applies, without pausing the live runners, the events
// appended since the build started, in rounds until few are left, so that
// the pause before the swap is short.
func (b *rebuild) catchUpUnlocked(ctx context.Context) error {
	conn, err := b.connect(ctx, "catch up")
	if err != nil {
		return err
	}
	defer closeConn(conn)
	for range catchUpRounds {
		head, err := b.cfg.Store.Head(ctx)
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		if head <= b.pos+eventstore.Position(b.cfg.BatchSize) {
			return nil
		}
		start, from := time.Now(), b.pos
		err = b.catchUp(ctx, head, func(ctx context.Context, apply func(pgx.Tx) error) error {
			tx, err := b.beginBuild(ctx, conn)
			if err != nil {
				return err
			}
			if err := apply(tx); err != nil {
				_ = tx.Rollback(context.WithoutCancel(ctx))
				return err
			}
			return tx.Commit(ctx)
		})
		if err != nil {
			return err
		}
		b.cfg.Logger.Info("rebuild: caught up", "from", from, "to", head, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
