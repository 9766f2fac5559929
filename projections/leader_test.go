package projections

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

// leaderPIDs returns the backends holding the leadership of name.
func leaderPIDs(t *testing.T, pool *pgxpool.Pool, name string) []int32 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::int::oid AND objid = $2::bigint::oid
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		int64(uint32(leaderLockClass)), int64(uint32(lockKey(name))))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int32
	for rows.Next() {
		var pid int32
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func TestLeadershipTakeoverWithinFiveSeconds(t *testing.T) {
	t.Parallel()
	pool1 := newDB(t)
	pool2, err := pgxpool.New(context.Background(), pool1.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool2.Close)
	store := memory.New(eventstore.Options{})
	p1 := newTestProjection("lead_v1", "leadp")
	p2 := newTestProjection("lead_v1", "leadp")
	p1.createTables(t, pool1)
	w := newWaiter(t, pool1)

	head := appendEvents(t, store, streamsOf("post-", 3), 200)
	_, stop1 := startRuntime(t, Config{Pool: pool1, Store: store, Projections: []Projection{p1}})
	waitFor(t, w, 20*time.Second, head, "lead_v1")
	rt2, _ := startRuntime(t, Config{Pool: pool2, Store: store, Projections: []Projection{p2}})

	// While the first runs, the second stands by: one leader, no double work.
	time.Sleep(1500 * time.Millisecond)
	head = appendEvents(t, store, streamsOf("post-", 3), 50)
	waitFor(t, w, 10*time.Second, head, "lead_v1")
	if n := p2.calls.Load(); n != 0 {
		t.Fatalf("standby applied %d events", n)
	}
	pids := leaderPIDs(t, pool1, "lead_v1")
	if len(pids) != 1 {
		t.Fatalf("leaders = %v, want exactly one", pids)
	}

	// Kill the leader: its lock connection dies, and so does the process.
	killed := time.Now()
	if _, err := pool1.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pids[0]); err != nil {
		t.Fatal(err)
	}
	go stop1()
	head = appendEvents(t, store, streamsOf("user-", 2), 10)
	waitFor(t, w, 5*time.Second, head, "lead_v1")
	took := time.Since(killed)
	t.Logf("takeover and catch-up took %s", took)
	if took > 5*time.Second {
		t.Fatalf("takeover took %s, want < 5s", took)
	}
	if p2.calls.Load() < 10 {
		t.Fatalf("the standby applied %d events after takeover, want ≥ 10", p2.calls.Load())
	}
	if now := leaderPIDs(t, pool1, "lead_v1"); len(now) != 1 || now[0] == pids[0] {
		t.Fatalf("leaders after takeover = %v (killed %d)", now, pids[0])
	}
	if got := p1.rowCount(t, pool1); got != 260 {
		t.Errorf("rows = %d, want 260", got)
	}
	st, err := rt2.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != StateIdle {
		t.Errorf("status = %+v, want idle", st[0])
	}
}
