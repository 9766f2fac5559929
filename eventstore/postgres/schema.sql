-- Palimpsest PostgreSQL event store schema. Applied by Migrate; every
-- statement is idempotent, so running it again is harmless. Objects are
-- created in the current schema (search_path) of the connection.

-- es_head holds the last assigned global position. Appends take its row
-- lock as late as possible in their transaction and keep it until commit,
-- so positions are dense and become visible strictly in order: a reader
-- that saw position p has also seen every position below p.
CREATE TABLE IF NOT EXISTS es_head (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint  NOT NULL
);
INSERT INTO es_head (id, position) VALUES (true, 0) ON CONFLICT (id) DO NOTHING;

-- es_streams holds each stream's current version (number of events); its
-- row lock serializes appends to one stream (optimistic concurrency).
CREATE TABLE IF NOT EXISTS es_streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL CHECK (version > 0)
);

-- es_events is the global log. data and metadata are json (not jsonb) so
-- the bytes an appender wrote are returned unchanged; NULL means empty.
CREATE TABLE IF NOT EXISTS es_events (
    position    bigint      PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    stream_id   text        NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    type        text        NOT NULL,
    data        json COMPRESSION lz4,
    metadata    json COMPRESSION lz4,
    recorded_at timestamptz NOT NULL,
    UNIQUE (stream_id, version)
);
-- Payloads over ~2 kB (post bodies) are compressed. lz4 rather than the
-- default pglz: reading the log back (subscriptions, rebuilds) spent ~30 % of
-- its time in pglz decompression, and lz4 also compresses faster on append.
-- A log created before this keeps its old values as they are (PostgreSQL
-- reads both); only new appends use lz4. The check keeps Migrate from taking
-- the table's exclusive lock when there is nothing to change.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = 'es_events'::regclass AND attname IN ('data', 'metadata')
                 AND attcompression IS DISTINCT FROM 'l') THEN
        ALTER TABLE es_events ALTER COLUMN data SET COMPRESSION lz4,
                              ALTER COLUMN metadata SET COMPRESSION lz4;
    END IF;
END
$$;

-- es_existing reports whether events with p_ids were already appended.
-- o_status: 0 none of them exist; 1 all exist as one contiguous run of
-- p_stream in the given order at the place p_kind/p_expected describes
-- (an idempotent re-append: o_version and o_position are the original
-- result); 2 some exist in p_stream but not like that (o_version is the
-- stream's current version); 3 some exist in another stream.
-- p_kind: 0 any, 1 no stream, 2 stream exists, 3 exact p_expected.
CREATE OR REPLACE FUNCTION es_existing(p_stream text, p_kind smallint, p_expected bigint, p_ids uuid[])
RETURNS TABLE (o_status smallint, o_version bigint, o_position bigint)
LANGUAGE plpgsql
-- Plan every statement for its actual arguments and the table's current
-- size: autovacuum may be off, and a generic plan cached while the table
-- was small (a sequential scan) would otherwise be kept as the log grows.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_found   bigint;
    v_same    bigint;
    v_offsets bigint;
    v_first   bigint;
    v_last    bigint;
    v_pos     bigint;
    v_ok      boolean;
BEGIN
    SELECT count(*),
           count(*) FILTER (WHERE e.stream_id = p_stream),
           count(DISTINCT e.version - x.i),
           min(e.version), max(e.version), max(e.position)
      INTO v_found, v_same, v_offsets, v_first, v_last, v_pos
      FROM unnest(p_ids) WITH ORDINALITY AS x(id, i)
      JOIN es_events e ON e.event_id = x.id;
    IF v_found = 0 THEN
        RETURN QUERY SELECT 0::smallint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF v_same <> v_found THEN
        RETURN QUERY SELECT 3::smallint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    v_ok := v_found = cardinality(p_ids) AND v_offsets = 1 AND CASE p_kind
        WHEN 0 THEN true
        WHEN 1 THEN v_first = 1
        WHEN 2 THEN v_first > 1
        ELSE v_first = p_expected + 1
    END;
    IF v_ok THEN
        RETURN QUERY SELECT 1::smallint, v_last, v_pos;
        RETURN;
    END IF;
    RETURN QUERY SELECT 2::smallint,
        coalesce((SELECT s.version FROM es_streams s WHERE s.stream_id = p_stream), 0::bigint),
        NULL::bigint;
END
$$;

-- es_append appends events to p_stream if it satisfies the expectation
-- (p_kind as for es_existing), all or nothing, in the caller's transaction
-- (one statement: autocommit makes it one transaction and one round trip).
-- It does not NOTIFY: PostgreSQL serializes the commits of notifying
-- transactions on one lock, so the store notifies after commit, coalesced
-- (see notifier.go).
-- o_status: 0 appended (o_version is the new stream version, o_position the
-- last event's position); 1 idempotent re-append (the original result);
-- 2 wrong expected version (o_version is the actual version); 3 an event ID
-- is already used in another stream.
CREATE OR REPLACE FUNCTION es_append(p_stream text, p_kind smallint, p_expected bigint,
    p_ids uuid[], p_types text[], p_data json[], p_metadata json[])
RETURNS TABLE (o_status smallint, o_version bigint, o_position bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan -- see es_existing
AS $$
DECLARE
    v_n   bigint := cardinality(p_ids);
    v_new bigint;
    v_pos bigint;
    r     record;
BEGIN
    SELECT * INTO r FROM es_existing(p_stream, p_kind, p_expected, p_ids);
    IF r.o_status <> 0 THEN
        RETURN QUERY SELECT r.o_status, r.o_version, r.o_position;
        RETURN;
    END IF;

    -- Optimistic concurrency: the stream row's lock serializes appenders of
    -- one stream; a loser re-evaluates its condition after the winner commits.
    IF p_kind = 0 THEN
        INSERT INTO es_streams AS s (stream_id, version) VALUES (p_stream, v_n)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + v_n
        RETURNING s.version INTO v_new;
    ELSIF p_kind = 1 THEN
        INSERT INTO es_streams AS s (stream_id, version) VALUES (p_stream, v_n)
        ON CONFLICT (stream_id) DO NOTHING
        RETURNING s.version INTO v_new;
    ELSIF p_kind = 2 THEN
        UPDATE es_streams s SET version = s.version + v_n
         WHERE s.stream_id = p_stream
        RETURNING s.version INTO v_new;
    ELSE
        UPDATE es_streams s SET version = s.version + v_n
         WHERE s.stream_id = p_stream AND s.version = p_expected
        RETURNING s.version INTO v_new;
    END IF;
    IF v_new IS NULL THEN
        -- Refused. A concurrent append of these very events may have won:
        -- look again with a fresh snapshot before reporting a conflict.
        SELECT * INTO r FROM es_existing(p_stream, p_kind, p_expected, p_ids);
        IF r.o_status <> 0 THEN
            RETURN QUERY SELECT r.o_status, r.o_version, r.o_position;
            RETURN;
        END IF;
        RETURN QUERY SELECT 2::smallint,
            coalesce((SELECT s.version FROM es_streams s WHERE s.stream_id = p_stream), 0::bigint),
            NULL::bigint;
        RETURN;
    END IF;

    -- Global positions, taken as late as possible: the es_head row lock is
    -- held until commit, so appends commit in position order.
    UPDATE es_head SET position = position + v_n WHERE id RETURNING position INTO v_pos;

    INSERT INTO es_events (position, event_id, stream_id, version, type, data, metadata, recorded_at)
    SELECT v_pos - v_n + x.i, x.id, p_stream, v_new - v_n + x.i, x.t, x.d, x.m, now()
      FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS x(id, t, d, m, i);

    RETURN QUERY SELECT 0::smallint, v_new, v_pos;
END
$$;


-- es_append_batch is the group commit of Store.Append: it runs several
-- independent appends in the caller's transaction (one statement, so with
-- autocommit one transaction, one round trip and one commit flush). Append
-- i is p_streams[i], p_kinds[i], p_expected[i] (as for es_append) with the
-- next p_counts[i] events of p_ids/p_types/p_data/p_metadata. Each append
-- succeeds or is refused on its own: conflicts are reported as statuses (as
-- for es_append, one row per append in order), never raised, so a refused
-- append does not abort the others. Appends to the same stream see the
-- earlier ones of the batch. Event IDs must be distinct across the batch
-- (the store defers a repeated ID to the next batch). Stream rows are
-- locked append by append; the es_head row lock is taken once, after all
-- checks, and held until commit, so positions stay dense and in commit
-- order. An unexpected error (e.g. a concurrent writer in another process
-- inserted one of the IDs) aborts the whole statement: the store then
-- retries the appends one by one with es_append.
CREATE OR REPLACE FUNCTION es_append_batch(p_streams text[], p_kinds smallint[], p_expected bigint[],
    p_counts integer[], p_ids uuid[], p_types text[], p_data json[], p_metadata json[])
RETURNS TABLE (o_status smallint, o_version bigint, o_position bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan -- see es_existing
AS $$
DECLARE
    v_n        integer := cardinality(p_streams);
    v_status   smallint[] := array_fill(0::smallint, ARRAY[v_n]);
    v_version  bigint[] := array_fill(NULL::bigint, ARRAY[v_n]);
    v_last     bigint[] := array_fill(NULL::bigint, ARRAY[v_n]); -- last event's offset in the batch
    v_app      integer[] := array_fill(NULL::integer, ARRAY[cardinality(p_ids)]); -- per event: its append, NULL if refused
    v_off      bigint[] := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);   -- per event: offset among the accepted events
    v_ver      bigint[] := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);   -- per event: its stream version
    v_existing boolean;
    v_first    integer := 1;
    v_cnt      integer;
    v_kind     smallint;
    v_new      bigint;
    v_total    bigint := 0;
    v_base     bigint;
    r          record;
BEGIN
    IF cardinality(p_counts) <> v_n OR cardinality(p_kinds) <> v_n OR cardinality(p_expected) <> v_n THEN
        RAISE EXCEPTION 'es_append_batch: argument arrays differ in length';
    END IF;
    -- One index probe for the whole batch; the usual answer is "none".
    v_existing := EXISTS (SELECT 1 FROM es_events e WHERE e.event_id = ANY (p_ids));
    FOR i IN 1 .. v_n LOOP
        v_cnt := p_counts[i];
        v_kind := p_kinds[i];
        v_new := NULL;
        IF v_existing THEN
            SELECT * INTO r FROM es_existing(p_streams[i], v_kind, p_expected[i], p_ids[v_first : v_first + v_cnt - 1]);
            IF r.o_status <> 0 THEN
                v_status[i] := r.o_status; v_version[i] := r.o_version; v_last[i] := r.o_position;
                v_first := v_first + v_cnt;
                CONTINUE;
            END IF;
        END IF;
        IF v_kind = 0 THEN
            INSERT INTO es_streams AS s (stream_id, version) VALUES (p_streams[i], v_cnt)
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + v_cnt
            RETURNING s.version INTO v_new;
        ELSIF v_kind = 1 THEN
            INSERT INTO es_streams AS s (stream_id, version) VALUES (p_streams[i], v_cnt)
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING s.version INTO v_new;
        ELSIF v_kind = 2 THEN
            UPDATE es_streams s SET version = s.version + v_cnt
             WHERE s.stream_id = p_streams[i]
            RETURNING s.version INTO v_new;
        ELSE
            UPDATE es_streams s SET version = s.version + v_cnt
             WHERE s.stream_id = p_streams[i] AND s.version = p_expected[i]
            RETURNING s.version INTO v_new;
        END IF;
        IF v_new IS NULL THEN
            -- Refused. A concurrent append of these very events may have
            -- won: look again with a fresh snapshot, as es_append does.
            SELECT * INTO r FROM es_existing(p_streams[i], v_kind, p_expected[i], p_ids[v_first : v_first + v_cnt - 1]);
            IF r.o_status <> 0 THEN
                v_status[i] := r.o_status; v_version[i] := r.o_version; v_last[i] := r.o_position;
            ELSE
                v_status[i] := 2;
                v_version[i] := coalesce((SELECT s.version FROM es_streams s WHERE s.stream_id = p_streams[i]), 0::bigint);
            END IF;
            v_first := v_first + v_cnt;
            CONTINUE;
        END IF;
        v_version[i] := v_new;
        FOR k IN 0 .. v_cnt - 1 LOOP
            v_app[v_first + k] := i;
            v_off[v_first + k] := v_total + k + 1;
            v_ver[v_first + k] := v_new - v_cnt + k + 1;
        END LOOP;
        v_total := v_total + v_cnt;
        v_last[i] := v_total;
        v_first := v_first + v_cnt;
    END LOOP;

    IF v_total > 0 THEN
        -- Global positions, once per batch and as late as possible: the
        -- es_head row lock is held until commit.
        UPDATE es_head SET position = position + v_total WHERE id RETURNING position - v_total INTO v_base;
        INSERT INTO es_events (position, event_id, stream_id, version, type, data, metadata, recorded_at)
        SELECT v_base + x.o, x.id, p_streams[x.a], x.v, x.t, x.d, x.m, now()
          FROM unnest(p_ids, p_types, p_data, p_metadata, v_app, v_off, v_ver) AS x(id, t, d, m, a, o, v)
         WHERE x.a IS NOT NULL;
        FOR i IN 1 .. v_n LOOP
            IF v_status[i] = 0 THEN
                v_last[i] := v_base + v_last[i];
            END IF;
        END LOOP;
    END IF;

    RETURN QUERY SELECT x.s, x.v, x.p
      FROM unnest(v_status, v_version, v_last) WITH ORDINALITY AS x(s, v, p, i)
     ORDER BY x.i;
END
$$;
