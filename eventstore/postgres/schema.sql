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
    data        json,
    metadata    json,
    recorded_at timestamptz NOT NULL,
    UNIQUE (stream_id, version)
);

-- es_existing reports whether events with p_ids were already appended.
-- o_status: 0 none of them exist; 1 all exist as one contiguous run of
-- p_stream in the given order at the place p_kind/p_expected describes
-- (an idempotent re-append: o_version and o_position are the original
-- result); 2 some exist in p_stream but not like that (o_version is the
-- stream's current version); 3 some exist in another stream.
-- p_kind: 0 any, 1 no stream, 2 stream exists, 3 exact p_expected.
CREATE OR REPLACE FUNCTION es_existing(p_stream text, p_kind smallint, p_expected bigint, p_ids uuid[])
RETURNS TABLE (o_status smallint, o_version bigint, o_position bigint)
LANGUAGE plpgsql AS $$
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
LANGUAGE plpgsql AS $$
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
