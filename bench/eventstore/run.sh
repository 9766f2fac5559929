#!/bin/sh
# Event store (PostgreSQL) benchmarks, see docs/BENCHMARKS.md.
# Runs pgbench (raw INSERT+COMMIT and the store's es_append, 8 clients) and
# the Go benchmarks of eventstore/postgres back to back, so the figures come
# from one run on the same machine state. Needs a local PostgreSQL where the
# user may CREATE DATABASE; PGURL defaults to the local trust-auth server.
set -eu
cd "$(dirname "$0")/../.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DB=es_pgbench_$$
SECS=${SECS:-20}
psql -q "$PGURL" -c "CREATE DATABASE $DB"
trap 'psql -q "$PGURL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
DBURL=$(echo "$PGURL" | sed "s#/postgres?#/$DB?#")
psql -q "$DBURL" -f eventstore/postgres/schema.sql
psql -q "$DBURL" -c "CREATE TABLE raw_events (id bigserial PRIMARY KEY, event_id uuid UNIQUE, stream_id text, type text, data json, metadata json, recorded_at timestamptz)"
uptime
echo "== pgbench raw INSERT+COMMIT, 8 clients, ${SECS}s"
pgbench -n -c 8 -j 2 -T "$SECS" -f bench/eventstore/raw_insert.sql "$DBURL" | grep -E 'tps|latency average'
echo "== pgbench es_append (single-event append), 8 clients, ${SECS}s"
pgbench -n -c 8 -j 2 -T "$SECS" -f bench/eventstore/es_append.sql "$DBURL" | grep -E 'tps|latency average'
echo "== go: appends from 8 goroutines (group commit, without gather delay, without group commit), catch-up of 100k events"
go test -run '^$' -bench 'Append8Writers' -benchtime "${APPENDS:-10000}x" ./eventstore/postgres/
go test -run '^$' -bench 'CatchUp100k|ReadAllPages100k' -benchtime 3x ./eventstore/postgres/
echo "== go: live latency at ${RATE:-500} appends/s"
go test -run '^$' -bench 'LiveLatency' -benchtime "${LIVE:-5000}x" ./eventstore/postgres/ -live-rate "${RATE:-500}"
uptime
