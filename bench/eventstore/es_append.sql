-- pgbench script: one single-event append to a new stream through the
-- store's own es_append function (the exact statement eventstore/postgres
-- sends), so the figure is the database-side ceiling of Store.Append.
\set n random(1, 2000000000)
SELECT o_status FROM es_append('pgbench-' || :client_id || '-' || :n || '-' || md5(random()::text), 1::smallint, 0,
    ARRAY[gen_random_uuid()], ARRAY['BenchEvent'],
    ARRAY['{"title":"benchmark","body":"one single-event append"}'::json],
    ARRAY['{"actor_id":"bench"}'::json]);
