// Command rebuild rebuilds projections blue/green from the whole log, as
// `cms projections rebuild --all` does (one projections.Rebuild call, one
// pass over the log for all of them), and reports the time, the log events
// per second, the process's CPU time and its peak resident memory (VmHWM);
// the phases' durations go to stderr. With -cpuprofile it writes a CPU
// profile of the run, which `cms` does not expose. It also samples the CPU time of the PostgreSQL
// backends serving its database (from /proc, so PostgreSQL must run on this
// machine), so that CPU per event can be reported: on a machine loaded by
// other work, wall-clock rates are noise, CPU per event is not.
//
//	go run ./bench/rebuild -database-url postgres://postgres@127.0.0.1:5432/bench_i?sslmode=disable -cpuprofile /tmp/rebuild.prof
//	go tool pprof -top -nodecount 30 /tmp/rebuild.prof
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/projections"
)

func main() {
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL of the event store and read models")
	only := flag.String("projections", "", "comma-separated projection names, rebuilt together; empty = all")
	batch := flag.Int("batch", 0, "events per page read from the store; 0 = the default")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	timeout := flag.Duration("timeout", 0, "stop the rebuild after this long and report the rate reached (the live tables stay untouched); 0 = no limit")
	flag.Parse()
	if *dbURL == "" || strings.Contains(*dbURL, "/palimpsest?") {
		log.Fatal("rebuild: set -database-url to a benchmark database (not palimpsest)")
	}
	ctx := context.Background()
	pool, err := postgres.Open(ctx, *dbURL)
	if err != nil {
		log.Fatalf("rebuild: %v", err)
	}
	defer pool.Close()
	store, err := pgstore.Open(ctx, *dbURL, pgstore.Options{})
	if err != nil {
		log.Fatalf("rebuild: %v", err)
	}
	defer store.Close()
	head, err := store.Head(ctx)
	if err != nil {
		log.Fatalf("rebuild: %v", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("rebuild: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("rebuild: %v", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	var ps []projections.Projection
	for _, p := range projections.All() {
		if *only == "" || strings.Contains(","+*only+",", ","+p.Name()+",") {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		log.Fatalf("rebuild: no projection matches -projections %q", *only)
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	sampler := newBackendSampler(ctx, pool)
	defer sampler.stop()
	// Info level: Rebuild logs how long each phase took.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if *timeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, *timeout)
	}
	projections.LimitRebuildMemory() // as `cms projections rebuild` does
	start, cpu0 := time.Now(), cpuTime()
	var done uint64
	err = projections.Rebuild(rctx, projections.RebuildConfig{Pool: pool, Store: store, Projections: ps, BatchSize: *batch, Logger: logger,
		Progress: func(d, _ uint64) { done = d }})
	d := time.Since(start)
	cancel()
	partial := ""
	switch {
	case err != nil && rctx.Err() != nil:
		partial = fmt.Sprintf("  (stopped after -timeout at %d of %d)", done, head)
	case err != nil:
		log.Fatalf("rebuild: %v", err)
	default:
		done = uint64(head)
	}
	goCPU, pgCPU := cpuTime()-cpu0, sampler.total()
	label := "all"
	if *only != "" {
		label = strings.Join(names, ",")
	}
	fmt.Printf("rebuild %-16s %8.1fs %9.0f log events/s  go cpu %.1fs (%.0f%% of one core)  pg cpu %.1fs  head %d  VmHWM %s%s\n",
		label, d.Seconds(), float64(done)/d.Seconds(), goCPU.Seconds(), 100*goCPU.Seconds()/d.Seconds(), pgCPU.Seconds(), head, vmHWM(), partial)
	if cpu := goCPU + pgCPU; cpu > 0 && done > 0 {
		fmt.Printf("rebuild %-16s CPU per log event %.1f µs (go %.1f + pg %.1f): %.0f log events per CPU-second\n",
			label, perEvent(cpu, done), perEvent(goCPU, done), perEvent(pgCPU, done), float64(done)/cpu.Seconds())
		fmt.Printf("rebuild %-16s PostgreSQL CPU by backend:%s\n", label, sampler.byApp())
	}
}

func perEvent(d time.Duration, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// backendSampler accumulates the CPU time of the PostgreSQL backends
// connected to the pool's database, read from /proc/<pid>/stat every 200 ms
// (a backend that exits between samples loses at most its last 200 ms).
type backendSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	first  map[int]time.Duration // CPU when first seen
	last   map[int]time.Duration // CPU when last seen
	app    map[int]string        // application_name
}

func newBackendSampler(ctx context.Context, pool *pgxpool.Pool) *backendSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &backendSampler{cancel: cancel, done: make(chan struct{}), first: map[int]time.Duration{}, last: map[int]time.Duration{}, app: map[int]string{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample(ctx, pool)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *backendSampler) sample(ctx context.Context, pool *pgxpool.Pool) {
	rows, err := pool.Query(ctx, "SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err != nil {
		return
	}
	type backend struct {
		pid int32
		app string
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backend, error) {
		var b backend
		return b, r.Scan(&b.pid, &b.app)
	})
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bs {
		pid := int(b.pid)
		cpu, ok := procCPU(pid)
		if !ok {
			continue
		}
		if _, seen := s.first[pid]; !seen {
			s.first[pid] = cpu
		}
		s.last[pid] = cpu
		if b.app != "" {
			s.app[pid] = b.app
		}
	}
}

// total returns the backends' CPU time since they were first seen.
func (s *backendSampler) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum time.Duration
	for pid, cpu := range s.last {
		sum += cpu - s.first[pid]
	}
	return sum
}

// byApp returns the backends' CPU time by application_name, largest first.
func (s *backendSampler) byApp() string {
	s.mu.Lock()
	sum := map[string]time.Duration{}
	for pid, cpu := range s.last {
		app := s.app[pid]
		if app == "" {
			app = "(pool)"
		}
		sum[app] += cpu - s.first[pid]
	}
	s.mu.Unlock()
	apps := make([]string, 0, len(sum))
	for a := range sum {
		apps = append(apps, a)
	}
	sort.Slice(apps, func(i, j int) bool { return sum[apps[i]] > sum[apps[j]] })
	var b strings.Builder
	for _, a := range apps {
		fmt.Fprintf(&b, "  %s %.1fs", a, sum[a].Seconds())
	}
	return b.String()
}

func (s *backendSampler) stop() {
	s.cancel()
	<-s.done
}

// procCPU returns utime+stime of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the parenthesized command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond, true
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM returns the peak resident set size from /proc/self/status.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
