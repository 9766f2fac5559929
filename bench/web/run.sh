#!/usr/bin/env bash
# bench/web/run.sh — the web UI and media-serving benchmarks (see the "Web
# UI" and "Media" sections of docs/BENCHMARKS.md): create and seed a
# database, start `cms serve` and the bare net/http ceiling (bench/ceiling),
# create a published post with 1,000 revisions (bench/fixture), upload one
# JPEG through the API, sign in through the UI form, and measure with wrk in
# the same run: the ceiling, the public home page, the post page, the
# history page (signed-in editor's cookie) and a w640 rendition. The
# public pages and history views are cached until a projection commits
# (http/web/cache.go); with UNCACHED=1 the script restarts `cms serve` with
# the caches off (CMS_PUBLIC_CACHE_TTL=-1s) and measures the three pages
# again, i.e. the cost of every request that follows a commit.
#
# Everything talks to 127.0.0.1 only. Every step is bounded in time.
#
# Knobs (environment):
#   POSTS=20000 EDITS=1 USERS=20   seed size
#   DB=bench_l                     database (dropped and recreated unless REUSE_DB=1)
#   REUSE_DB=0                     1 = keep an already seeded $DB
#   WRK_DURATION=15s WRK_CONNS=32 WRK_THREADS=2
#   UNCACHED=1                     0 = skip the uncached pass
#   REVISIONS=1000 REVISION_BYTES=10000
#   MEDIA_DIR=/tmp/bench-web-media-$DB  uploaded media (kept with the database: uploads deduplicate)
#   OUT=/tmp/bench-web-<date>      binaries, logs and raw wrk outputs
#
#   bench/web/run.sh                 # create, seed and measure
#   REUSE_DB=1 bench/web/run.sh      # measure again (reuses the fixture post)
set -euo pipefail

POSTS=${POSTS:-20000}
EDITS=${EDITS:-1}
USERS=${USERS:-20}
DB=${DB:-bench_l}
REUSE_DB=${REUSE_DB:-0}
WRK_DURATION=${WRK_DURATION:-15s}
WRK_CONNS=${WRK_CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
UNCACHED=${UNCACHED:-1}
REVISIONS=${REVISIONS:-1000}
REVISION_BYTES=${REVISION_BYTES:-10000}
PASSWORD=${PASSWORD:-benchpass123}
ADDR=127.0.0.1:${PORT:-18180}
CEILING_ADDR=127.0.0.1:${CEILING_PORT:-18199}
OUT=${OUT:-/tmp/bench-web-$(date +%Y%m%d-%H%M%S)}
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export CMS_ADDR=$ADDR CMS_BASE_URL=http://$ADDR CMS_LOG_LEVEL=${CMS_LOG_LEVEL:-warn} CMS_MEDIA_DIR=${MEDIA_DIR:-/tmp/bench-web-media-$DB}
unset EVENTSTORE_URL
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)

case $DB in palimpsest|postgres|template*) echo "refusing to use database $DB" >&2; exit 2;; esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
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
machine() { echo "nproc=$(nproc) mem=$(free -m | awk '/Mem:/{print $2}')MiB load=$(cut -d' ' -f1-3 /proc/loadavg)"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

log "building into $OUT"
(cd "$ROOT" && go build -o "$OUT/" ./cmd/cms ./bench/ceiling ./bench/fixture ./bench/web/photo)
CMS=$OUT/cms

if [ "$REUSE_DB" = 1 ] && "${PSQL[@]}" -d "$DB" -c 'SELECT 1 FROM es_events LIMIT 1' >/dev/null 2>&1; then
	log "reusing database $DB"
else
	log "creating database $DB and seeding $POSTS posts × $((EDITS + 1)) revisions"
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
	"$CMS" migrate >"$OUT/migrate.log" 2>&1
	timeout 1h "$CMS" seed --posts "$POSTS" --edits-per-post "$EDITS" --users "$USERS" --password "$PASSWORD" >"$OUT/seed.log" 2>&1
	tail -n 2 "$OUT/seed.log" >&2
fi
"$CMS" migrate >>"$OUT/migrate.log" 2>&1

wait_ready() {
	for _ in $(seq 1 600); do
		curl -fsS "http://$1/${2:-readyz}" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "server on $1 not ready" >&2
	return 1
}
wait_caught_up() {
	for _ in $(seq 1 1800); do
		lag=$("$CMS" projections status --json 2>/dev/null | python3 -c 'import json,sys; print(sum(p.get("lag_events",1) for p in json.load(sys.stdin)))' 2>/dev/null || echo 1)
		[ "$lag" = 0 ] && return 0
		sleep 1
	done
	echo "projections did not catch up" >&2
	return 1
}
# run_wrk LABEL URL [HEADER]: records req/s, p50, p99 and non-2xx.
run_wrk() {
	local label=$1 url=$2 hdr=${3:-} f
	f=$OUT/wrk-$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_').txt
	if [ -n "$hdr" ]; then
		timeout 300 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency -H "$hdr" "$url" >"$f"
	else
		timeout 300 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency "$url" >"$f"
	fi
	local rps p50 p99 bad
	rps=$(awk '/Requests\/sec/{printf "%.0f", $2}' "$f")
	p50=$(awk '$1=="50%"{print $2}' "$f")
	p99=$(awk '$1=="99%"{print $2}' "$f")
	bad=$(awk '/Non-2xx/{print $5}' "$f")
	result "$label" "req/s | p50 | p99 | non-2xx" "$rps | $p50 | $p99 | ${bad:-0}"
}

"$OUT/ceiling" -addr "$CEILING_ADDR" >"$OUT/ceiling.log" 2>&1 &
PIDS+=($!)
"$CMS" serve >"$OUT/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_ready "$ADDR"
wait_ready "$CEILING_ADDR" ""
log "waiting for the projections to reach the head"
wait_caught_up

api() { # api METHOD PATH TOKEN [curl args…]
	local m=$1 p=$2 t=$3
	shift 3
	curl -fsS -X "$m" -H "Authorization: Bearer $t" "$@" "http://$ADDR$p"
}
token() {
	curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"login\":\"$1\",\"password\":\"$PASSWORD\"}" \
		"http://$ADDR/api/v1/auth/login" | json '["access_token"]'
}

# The 1,000-revision post, published (its public page), and one JPEG.
# An earlier run's fixture post is reused with REUSE_DB=1.
read -r FIXTURE_ID FIXTURE_SLUG < <("${PSQL[@]}" -d "$DB" -Atc "SELECT id, slug FROM posts WHERE title LIKE 'Revision fixture %' AND revision >= $REVISIONS ORDER BY created_at DESC LIMIT 1" | tr '|' ' ') || true
if [ -z "${FIXTURE_ID:-}" ]; then
	log "creating the $REVISIONS-revision post"
	eval "$(timeout 1800 "$OUT/fixture" -url "http://$ADDR" -login editor1 -password "$PASSWORD" \
		-revisions "$REVISIONS" -body-bytes "$REVISION_BYTES" 2>>"$OUT/fixture.log")"
fi
tok=$(token editor1)
read -r version status < <(api GET "/api/v1/posts/$FIXTURE_ID" "$tok" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(p["version"], p["status"])')
[ "$status" = published ] || api POST "/api/v1/posts/$FIXTURE_ID/publish" "$tok" -H "If-Match: \"$version\"" >/dev/null
"$OUT/photo" -w 4000 -h 3000 >"$OUT/photo.jpg"
hash=$(api POST /api/v1/media "$tok" -F "file=@$OUT/photo.jpg;type=image/jpeg" -F "alt=Bench photo" | json '["hash"]')
wait_caught_up
"${PSQL[@]}" -d "$DB" -c 'ANALYZE'

# A UI session: GET /signin for the CSRF cookie, then the sign-in form.
jar=$OUT/cookies.txt
csrf=$(curl -fsS -c "$jar" "http://$ADDR/signin" | sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' | head -n1)
curl -fsS -o /dev/null -b "$jar" -c "$jar" --data-urlencode "_csrf=$csrf" --data-urlencode "login=editor1" \
	--data-urlencode "password=$PASSWORD" --data-urlencode "next=/desk" "http://$ADDR/signin"
cookie=$(sed 's/^#HttpOnly_//' "$jar" | awk '!/^#/ && NF>=7 {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://$ADDR/desk/posts/$FIXTURE_ID/history")" = 200 ] ||
	{ echo "history page not reachable with the session cookie" >&2; exit 1; }

log "wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION ($(machine))"
result "run" "machine" "$(machine)"
run_wrk "ceiling (net/http, 2 KB)" "http://$CEILING_ADDR/"
run_wrk "GET / (home, $POSTS posts)" "http://$ADDR/"
run_wrk "GET /posts/{slug} ($REVISIONS revisions)" "http://$ADDR/posts/$FIXTURE_SLUG"
run_wrk "GET /desk/posts/{id}/history ($REVISIONS revisions, editor)" "http://$ADDR/desk/posts/$FIXTURE_ID/history" "Cookie: $cookie"
run_wrk "GET /media/{hash}/w640.jpg" "http://$ADDR/media/$hash/w640.jpg"
result "cms serve" "VmHWM" "$(awk '/VmHWM/{print $2, $3}' /proc/"$SERVE_PID"/status)"
for p in / "/posts/$FIXTURE_SLUG" "/media/$hash/w640.jpg"; do
	result "size $p" "bytes" "$(curl -fsS "http://$ADDR$p" | wc -c)"
done
result "size history" "bytes" "$(curl -fsS -H "Cookie: $cookie" "http://$ADDR/desk/posts/$FIXTURE_ID/history" | wc -c)"
if [ "$UNCACHED" = 1 ]; then
	kill "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null || true
	CMS_PUBLIC_CACHE_TTL=-1s "$CMS" serve >"$OUT/serve-uncached.log" 2>&1 &
	SERVE_PID=$!
	PIDS+=($SERVE_PID)
	wait_ready "$ADDR"
	log "caches off (CMS_PUBLIC_CACHE_TTL=-1s) ($(machine))"
	run_wrk "uncached GET / (home, $POSTS posts)" "http://$ADDR/"
	run_wrk "uncached GET /posts/{slug} ($REVISIONS revisions)" "http://$ADDR/posts/$FIXTURE_SLUG"
	run_wrk "uncached GET /desk/posts/{id}/history ($REVISIONS revisions, editor)" "http://$ADDR/desk/posts/$FIXTURE_ID/history" "Cookie: $cookie"
fi
run_wrk "ceiling again" "http://$CEILING_ADDR/"
result "run end" "machine" "$(machine)"

echo
echo "== results ($(date -u +%Y-%m-%dT%H:%MZ), $(machine), outputs in $OUT) =="
column -t -s $'\t' "$RESULTS"
