-- Projection runtime: one checkpoint row per projection (projections/checkpoint.go).
-- position is the global log position of the last event the projection has
-- taken into account (applied or skipped by its stream filter); it is written
-- in the same transaction as the read-table rows of its batch.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name            text PRIMARY KEY,
    position        bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    events_applied  bigint      NOT NULL DEFAULT 0,
    state           text        NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'failed', 'rebuilding')),
    last_error      text,
    failed_position bigint,
    failed_at       timestamptz,
    rebuilt_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
