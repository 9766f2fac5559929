#!/usr/bin/env bash
# bench/run.sh — the read-side and HTTP API benchmarks end to end (see
# docs/BENCHMARKS.md): create a database, seed it, rebuild all projections
# (with the raw-COPY baseline), then start `cms serve` and the bare net/http
# ceiling and measure them with wrk in the same run, create the 1,000-revision
# post, and run the edit-throughput and live-lag generators. Prints a table.
#
# Everything talks to 127.0.0.1 only. Every step is bounded in time.
#
# Knobs (environment):
#   POSTS=20000 EDITS=49 USERS=20   seed size: POSTS × (EDITS+1) revisions (~1,000,000 events)
#   DB=bench_i                      database name, bench* only (dropped and recreated unless REUSE_DB=1)
#   REUSE_DB=0                      1 = keep an already seeded $DB (skip create and seed)
#   DB_PARAMS=                      extra DATABASE_URL parameters (libpq ones: pool_* is refused by the store listener)
#   SCENARIOS="rebuild copy http revisions edits lag"
#   PROFILE=0                       1 = CPU profile of the rebuild (pprof top in $OUT)
#   WRK_DURATION=15s WRK_CONNS=32 WRK_THREADS=2
#   REV_CONNS=8                     wrk connections for the revisions and diff endpoints
#   SLUGS=2000                      distinct posts the many-slugs read cycles through
#   REVISIONS=1000 REVISION_BYTES=10000
#   EDIT_WORKERS=32 EDIT_POSTS_PER_WORKER=4 EDIT_DURATION=20s
#   LAG_RATE=300 LAG_DURATION=20s LAG_POSTS=300
#   PG_WAITS=0                      1 = sample the database's wait events during the lag run ($OUT/lag-waits.txt)
#   OUT=/tmp/bench-<date>           where binaries, logs and raw outputs go
#
#   POSTS=4000 EDITS=49 bench/run.sh          # 200,000 events
#   REUSE_DB=1 SCENARIOS="http edits lag" bench/run.sh
set -euo pipefail

POSTS=${POSTS:-20000}
EDITS=${EDITS:-49}
USERS=${USERS:-20}
DB=${DB:-bench_i}
REUSE_DB=${REUSE_DB:-0}
SCENARIOS=${SCENARIOS:-"rebuild copy http revisions edits lag"}
WRK_DURATION=${WRK_DURATION:-15s}
WRK_CONNS=${WRK_CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
REV_CONNS=${REV_CONNS:-8}
SLUGS=${SLUGS:-2000}
REVISIONS=${REVISIONS:-1000}
REVISION_BYTES=${REVISION_BYTES:-10000}
EDIT_WORKERS=${EDIT_WORKERS:-32}
EDIT_POSTS_PER_WORKER=${EDIT_POSTS_PER_WORKER:-4}
EDIT_DURATION=${EDIT_DURATION:-20s}
LAG_RATE=${LAG_RATE:-300}
LAG_DURATION=${LAG_DURATION:-20s}
LAG_POSTS=${LAG_POSTS:-300}
PASSWORD=${PASSWORD:-benchpass123}
ADDR=127.0.0.1:${PORT:-18080}
CEILING_ADDR=127.0.0.1:${CEILING_PORT:-18099}
OUT=${OUT:-/tmp/bench-$(date +%Y%m%d-%H%M%S)}
PGHOST_URL=postgres://postgres@127.0.0.1:5432
export DATABASE_URL="$PGHOST_URL/$DB?sslmode=disable${DB_PARAMS:+&$DB_PARAMS}"
export CMS_ADDR=$ADDR CMS_BASE_URL=${CMS_BASE_URL:-http://$ADDR} CMS_LOG_LEVEL=${CMS_LOG_LEVEL:-warn}
unset EVENTSTORE_URL
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)

case $DB in bench*) ;; *) echo "refusing database $DB: benchmark databases are named bench*" >&2; exit 2;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" | tee -a "$RESULTS" >&2; }
has() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# cpu_ticks prints the CPU clock ticks (user+system) used so far by `cms
# serve` and by all postgres processes; cpu_delta turns two readings into
# seconds.
cpu_ticks() {
	local s=0 p=0 pid
	[ -n "${SERVE_PID:-}" ] && s=$(awk '{print $14+$15}' /proc/"$SERVE_PID"/stat 2>/dev/null || echo 0)
	for pid in $(pgrep -x postgres); do p=$((p + $(awk '{print $14+$15}' /proc/"$pid"/stat 2>/dev/null || echo 0))); done
	echo "$s $p"
}
cpu_delta() {
	local hz; hz=$(getconf CLK_TCK)
	set -- $1 $2
	awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" -v hz="$hz" 'BEGIN{printf "%.1f / %.1f\n", (c-a)/hz, (d-b)/hz}'
}
# sample_waits SECONDS FILE: what the database's active backends are doing
# (wait event, or CPU, and statement), sampled every 20 ms, counted.
sample_waits() {
	local q="SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || ' | ' ||
		left(regexp_replace(query, '\s+', ' ', 'g'), 70) FROM pg_stat_activity
		WHERE datname = '$DB' AND state = 'active' AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%'"
	printf '%s \\watch 0.02\n' "$q" | timeout "$1" "${PSQL[@]}" -At -d "$DB" 2>/dev/null |
		grep -v -e '^$' -e '(every ' | sort | uniq -c | sort -rn | head -50 >"$2" || true
}
machine() { echo "nproc=$(nproc) mem=$(free -m | awk '/Mem:/{print $2}')MiB load=$(cut -d' ' -f1-3 /proc/loadavg)"; }

log "building into $OUT"
(cd "$ROOT" && go build -o "$OUT/" ./cmd/cms ./bench/ceiling ./bench/lag ./bench/edits ./bench/fixture ./bench/rebuild)
CMS=$OUT/cms

# 1. Database and seed.
if [ "$REUSE_DB" = 1 ] && "${PSQL[@]}" -d "$DB" -c 'SELECT 1 FROM es_events LIMIT 1' >/dev/null 2>&1; then
	log "reusing database $DB"
else
	log "creating database $DB and seeding $POSTS posts × $((EDITS + 1)) revisions"
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
	"$CMS" migrate >"$OUT/migrate.log" 2>&1
	timeout 3h "$CMS" seed --posts "$POSTS" --edits-per-post "$EDITS" --users "$USERS" --password "$PASSWORD" \
		>"$OUT/seed.log" 2>&1
	tail -n 2 "$OUT/seed.log" >&2
fi
"$CMS" migrate >>"$OUT/migrate.log" 2>&1
EVENTS=$("${PSQL[@]}" -d "$DB" -Atc 'SELECT count(*) FROM es_events')
POST_EVENTS=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM es_events WHERE stream_id LIKE 'post-%'" 2>/dev/null || echo "?")
log "event log: $EVENTS events ($POST_EVENTS in post streams); $(machine)"
result "log" "events" "$EVENTS"

# 2. Rebuild every projection (blue/green) from the whole log, no server
# running. bench/rebuild makes the one projections.Rebuild call that
# `cms projections rebuild --all` makes (one pass over the log for all
# projections), and also accounts the CPU time of the Go process and of the
# PostgreSQL backends, by backend (CPU per event is what survives other load
# on the machine). The phases' durations are in $OUT/rebuild.err. PROFILE=1
# adds a CPU profile.
if has rebuild; then
	log "rebuild all projections ($(machine))"
	result "rebuild" "machine" "$(machine)"
	prof=()
	[ "${PROFILE:-0}" = 1 ] && prof=(-cpuprofile "$OUT/rebuild.prof")
	timeout 3h /usr/bin/time -v "$OUT/rebuild" -database-url "$DATABASE_URL" "${prof[@]}" >"$OUT/rebuild.out" 2>"$OUT/rebuild.err"
	cat "$OUT/rebuild.out" >&2
	grep -o 'msg="rebuild: [^"]*".*took=[^ ]*' "$OUT/rebuild.err" | sed 's/ projections="[^"]*"//' >&2 || true
	while IFS= read -r line; do result "rebuild" "" "${line#rebuild }"; done <"$OUT/rebuild.out"
	rss=$(awk -F: '/Maximum resident set size/{gsub(/ /,"",$2); printf "%.0f", $2/1024}' "$OUT/rebuild.err")
	result "rebuild all" "max RSS MiB (time -v)" "$rss"
	if [ "${PROFILE:-0}" = 1 ]; then
		go tool pprof -top -nodecount 30 "$OUT/rebuild" "$OUT/rebuild.prof" >"$OUT/rebuild-pprof-top.txt" 2>/dev/null || true
		go tool pprof -top -cum -nodecount 40 "$OUT/rebuild" "$OUT/rebuild.prof" >"$OUT/rebuild-pprof-cum.txt" 2>/dev/null || true
	fi
	"$CMS" projections status >"$OUT/status-after-rebuild.txt" 2>&1 || true
fi

# 3. Baselines: raw COPY of the same final rows into empty copies of the
# tables (same columns, defaults, generated columns), (a) with their
# indexes in place, (b) without indexes, which are then built, as the
# rebuild does for its bulk-loaded tables.
if has copy; then
	tables=()
	for t in posts tags post_search post_revisions post_history users audit_log media media_post_usage; do
		[ "$("${PSQL[@]}" -d "$DB" -Atc "SELECT to_regclass('public.$t') IS NOT NULL")" = t ] && tables+=("$t")
	done
	"${PSQL[@]}" -d "$DB" -c 'DROP SCHEMA IF EXISTS bench_copy CASCADE' -c 'CREATE SCHEMA bench_copy'
	rows=0
	for t in "${tables[@]}"; do
		"${PSQL[@]}" -d "$DB" -c "CREATE TABLE bench_copy.$t (LIKE public.$t INCLUDING ALL)"
		"${PSQL[@]}" -d "$DB" -c "\\copy public.$t TO '$OUT/copy-$t.bin' WITH (FORMAT binary)"
		n=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM public.$t")
		rows=$((rows + n))
	done
	log "COPY baseline: $rows rows ($(machine))"
	start=$(date +%s.%N)
	for t in "${tables[@]}"; do
		"${PSQL[@]}" -d "$DB" -c "\\copy bench_copy.$t FROM '$OUT/copy-$t.bin' WITH (FORMAT binary)"
	done
	end=$(date +%s.%N)
	total=$(echo "$end - $start" | bc)
	result "COPY baseline" "rows / seconds / rows per s" "$(printf '%d / %.1f / %.0f' "$rows" "$total" "$(echo "$rows / $total" | bc -l)")"
	"${PSQL[@]}" -d "$DB" -c 'DROP SCHEMA bench_copy CASCADE' -c 'CREATE SCHEMA bench_copy'
	# (b): the same rows, indexes built afterwards from the live tables' definitions.
	idx=$OUT/copy-indexes.sql
	: >"$idx"
	for t in "${tables[@]}"; do
		"${PSQL[@]}" -d "$DB" -c "CREATE TABLE bench_copy.$t (LIKE public.$t INCLUDING ALL EXCLUDING INDEXES)"
		"${PSQL[@]}" -d "$DB" -Atc "SELECT replace(pg_get_indexdef(indexrelid), ' ON public.$t ', ' ON bench_copy.$t ') || ';' FROM pg_index WHERE indrelid = 'public.$t'::regclass" >>"$idx"
	done
	log "COPY baseline without indexes: $rows rows ($(machine))"
	start=$(date +%s.%N)
	for t in "${tables[@]}"; do
		"${PSQL[@]}" -d "$DB" -c "\\copy bench_copy.$t FROM '$OUT/copy-$t.bin' WITH (FORMAT binary)"
	done
	loaded=$(date +%s.%N)
	"${PSQL[@]}" -d "$DB" -c "SET maintenance_work_mem = '256MB'" -f "$idx"
	end=$(date +%s.%N)
	total=$(echo "$end - $start" | bc)
	result "COPY baseline, indexes after" "rows / seconds (load + indexes) / rows per s" "$(printf '%d / %.1f (%.1f + %.1f) / %.0f' "$rows" "$total" "$(echo "$loaded - $start" | bc)" "$(echo "$end - $loaded" | bc)" "$(echo "$rows / $total" | bc -l)")"
	"${PSQL[@]}" -d "$DB" -c 'DROP SCHEMA bench_copy CASCADE'
	rm -f "$OUT"/copy-*.bin
fi

# 4. The server, the ceiling, and wrk.
wait_ready() {
	for _ in $(seq 1 600); do
		curl -fsS "http://$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "server on $1 not ready" >&2
	return 1
}
wait_caught_up() { # all projections at head (bounded: 30 min)
	for _ in $(seq 1 1800); do
		lag=$("$CMS" projections status --json 2>/dev/null | python3 -c 'import json,sys; print(sum(p.get("lag_events",1) for p in json.load(sys.stdin)))' 2>/dev/null || echo 1)
		[ "$lag" = 0 ] && return 0
		sleep 1
	done
	echo "projections did not catch up" >&2
	return 1
}
token() {
	curl -fsS -X POST -H 'Content-Type: application/json' \
		-d "{\"login\":\"$1\",\"password\":\"$PASSWORD\"}" "http://$ADDR/api/v1/auth/login" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# run_wrk LABEL URL [HEADER [SCRIPT]]: records req/s, p99 and non-2xx.
run_wrk() {
	local label=$1 url=$2 hdr=${3:-} script=${4:-} f args=()
	f=$OUT/wrk-$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_')-c$WRK_CONNS.txt
	[ -n "$hdr" ] && args+=(-H "$hdr")
	[ -n "$script" ] && args+=(-s "$script")
	timeout 300 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency "${args[@]}" "$url" >"$f"
	local rps p50 p99 bad
	rps=$(awk '/Requests\/sec/{printf "%.0f", $2}' "$f")
	p50=$(awk '$1=="50%"{print $2}' "$f")
	p99=$(awk '$1=="99%"{print $2}' "$f")
	bad=$(awk '/Non-2xx/{print $5}' "$f")
	result "$label" "c=$WRK_CONNS req/s | p50 | p99 | non-2xx" "$rps | $p50 | $p99 | ${bad:-0}"
	echo "$rps"
}

if has http || has revisions || has edits || has lag; then
	"$OUT/ceiling" -addr "$CEILING_ADDR" >"$OUT/ceiling.log" 2>&1 &
	PIDS+=($!)
	"$CMS" serve >"$OUT/serve.log" 2>&1 &
	SERVE_PID=$!
	PIDS+=($SERVE_PID)
	wait_ready "$ADDR"
	wait_ready "$CEILING_ADDR" 2>/dev/null || curl -fsS "http://$CEILING_ADDR/" >/dev/null
	log "waiting for the projections to reach the head"
	wait_caught_up
	"${PSQL[@]}" -d "$DB" -c 'ANALYZE'
fi

if has http; then
	slug=$(curl -fsS "http://$ADDR/api/v1/posts?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["slug"])')
	log "wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION ($(machine))"
	result "http" "machine" "$(machine)"
	c1=$(run_wrk "ceiling (net/http, 2 KB JSON)" "http://$CEILING_ADDR/")
	l=$(run_wrk "GET /api/v1/posts?limit=20" "http://$ADDR/api/v1/posts?limit=20")
	s=$(run_wrk "GET /api/v1/posts/{slug}" "http://$ADDR/api/v1/posts/$slug")
	# Many posts, not one: wrk cycles through the slugs of the newest
	# $SLUGS published posts (each thread from its own offset), so the
	# public response cache holds $SLUGS entries and recomputes each one
	# per TTL (5 s); its hit and miss counts are printed below.
	python3 - "$ADDR" "$SLUGS" >"$OUT/slugs.txt" <<'PY'
import json, sys, urllib.request
addr, want = sys.argv[1], int(sys.argv[2])
cursor, n = None, 0
while n < want:
    url = f"http://{addr}/api/v1/posts?limit=100" + (f"&cursor={cursor}" if cursor else "")
    page = json.load(urllib.request.urlopen(url))
    for it in page["items"][: want - n]:
        print(it["slug"]); n += 1
    cursor = page["next_cursor"]
    if not cursor:
        break
PY
	cat >"$OUT/slugs.lua" <<LUA
local paths, i = {}, 0
for slug in io.lines("$OUT/slugs.txt") do paths[#paths + 1] = "/api/v1/posts/" .. slug end
offset, next_offset = 0, 0 -- globals: setup (main state) sets each thread's offset
function setup(thread) thread:set("offset", next_offset); next_offset = next_offset + math.floor(#paths / $WRK_THREADS) end
function init() i = offset end
function request() i = i % #paths + 1; return wrk.format("GET", paths[i]) end
LUA
	m=$(run_wrk "GET /api/v1/posts/{slug}, $(wc -l <"$OUT/slugs.txt") slugs" "http://$ADDR/" "" "$OUT/slugs.lua")
	c2=$(run_wrk "ceiling again" "http://$CEILING_ADDR/")
	ceil=$(( (c1 + c2) / 2 ))
	result "ratio to ceiling" "list / slug / many slugs" "$(printf '%.2f / %.2f / %.2f' "$(echo "$l / $ceil" | bc -l)" "$(echo "$s / $ceil" | bc -l)" "$(echo "$m / $ceil" | bc -l)")"
	result "public cache" "hits / misses" "$(curl -fsS "http://$ADDR/metrics" | awk '/^palimpsest_http_public_cache_hits_total/{h=$2} /^palimpsest_http_public_cache_misses_total/{m=$2} END{printf "%d / %d", h, m}')"
fi

if has revisions; then
	log "creating the $REVISIONS-revision post"
	eval "$(timeout 1800 "$OUT/fixture" -url "http://$ADDR" -login editor1 -password "$PASSWORD" \
		-revisions "$REVISIONS" -body-bytes "$REVISION_BYTES" 2>>"$OUT/fixture.log")"
	wait_caught_up
	# The fixture just wrote ~10 MB of revisions and their WAL: flush them
	# now, not in the middle of the measurement.
	"${PSQL[@]}" -d "$DB" -c 'CHECKPOINT'
	tok=$(token auditor1)
	mid=$((REVISIONS / 2))
	log "revisions and diff ($(machine))"
	for conns in $REV_CONNS $WRK_CONNS; do
		WRK_CONNS=$conns run_wrk "GET …/revisions (${REVISIONS} revs, page 20)" "http://$ADDR/api/v1/posts/$FIXTURE_ID/revisions" "Authorization: Bearer $tok" >/dev/null
		WRK_CONNS=$conns run_wrk "GET …/revisions?limit=100" "http://$ADDR/api/v1/posts/$FIXTURE_ID/revisions?limit=100" "Authorization: Bearer $tok" >/dev/null
		WRK_CONNS=$conns run_wrk "GET …/diff?from=$((REVISIONS - 1))&to=$REVISIONS" "http://$ADDR/api/v1/posts/$FIXTURE_ID/diff?from=$((REVISIONS - 1))&to=$REVISIONS" "Authorization: Bearer $tok" >/dev/null
		WRK_CONNS=$conns run_wrk "GET …/diff?from=$mid&to=$REVISIONS" "http://$ADDR/api/v1/posts/$FIXTURE_ID/diff?from=$mid&to=$REVISIONS" "Authorization: Bearer $tok" >/dev/null
	done
fi

if has edits; then
	log "edits: $EDIT_WORKERS workers for $EDIT_DURATION ($(machine))"
	result "edits" "machine" "$(machine)"
	timeout 600 "$OUT/edits" -url "http://$ADDR" -login editor1 -password "$PASSWORD" \
		-workers "$EDIT_WORKERS" -posts-per-worker "$EDIT_POSTS_PER_WORKER" -duration "$EDIT_DURATION" \
		>"$OUT/edits.txt" 2>"$OUT/edits.log"
	result "PATCH /api/v1/posts/{id}" "edits" "$(cat "$OUT/edits.txt")"
	wait_caught_up
fi

if has lag; then
	# Flush what earlier steps dirtied (a rebuild or the COPY baseline leave
	# gigabytes of WAL behind, and the checkpoint they trigger is spread over
	# minutes): its writes would otherwise compete with the appends' fsyncs.
	"${PSQL[@]}" -d "$DB" -c CHECKPOINT
	log "lag: $LAG_RATE edits/s for $LAG_DURATION ($(machine))"
	result "lag" "machine" "$(machine)"
	cpu_before=$(cpu_ticks)
	[ "${PG_WAITS:-0}" = 1 ] && sample_waits "${LAG_DURATION%s}" "$OUT/lag-waits.txt" &
	timeout 600 "$OUT/lag" -url "http://$ADDR" -database-url "$DATABASE_URL" -login editor1 -password "$PASSWORD" \
		-rate "$LAG_RATE" -duration "$LAG_DURATION" -posts "$LAG_POSTS" >"$OUT/lag.txt" 2>"$OUT/lag.log"
	result "lag" "CPU s (cms serve / postgres, whole run)" "$(cpu_delta "$cpu_before" "$(cpu_ticks)")"
	# Per-projection batch sizes and durations, for where the lag goes.
	curl -fsS "http://$ADDR/metrics" | grep -E '^palimpsest_projection_batch_(duration_seconds|size)_(sum|count)' >"$OUT/lag-metrics.txt" || true
	while IFS= read -r line; do result "live lag" "" "$line"; done <"$OUT/lag.txt"
fi

if [ -n "${SERVE_PID:-}" ]; then
	result "cms serve" "VmHWM" "$(awk '/VmHWM/{print $2, $3}' /proc/"$SERVE_PID"/status)"
fi

echo
echo "== results ($(date -u +%Y-%m-%dT%H:%MZ), $(machine), outputs in $OUT) =="
column -t -s $'\t' "$RESULTS"
