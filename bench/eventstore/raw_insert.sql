-- pgbench script: the raw ceiling, one INSERT + COMMIT of an event-sized
-- row per transaction, without stream versions, position counter or NOTIFY.
-- Needs: CREATE TABLE raw_events (id bigserial PRIMARY KEY, event_id uuid UNIQUE, stream_id text, type text, data json, metadata json, recorded_at timestamptz);
INSERT INTO raw_events (event_id, stream_id, type, data, metadata, recorded_at)
VALUES (gen_random_uuid(), 'pgbench-' || :client_id || '-' || md5(random()::text), 'BenchEvent',
    '{"title":"benchmark","body":"one single-event append"}', '{"actor_id":"bench"}', now());
