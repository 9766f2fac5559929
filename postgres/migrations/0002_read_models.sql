-- Read models built by the projections in projections/ (DESIGN.md §6).
-- Rules for every table here: unqualified names, no triggers, no serial or
-- identity columns, no foreign keys to tables of other projections. The
-- runtime rebuilds a projection's tables blue/green with
-- CREATE TABLE … (LIKE … INCLUDING ALL), which copies columns, defaults,
-- generated columns, constraints, indexes and column compression. Bodies are
-- compressed with lz4 (PostgreSQL 14+ built with lz4, as the official images
-- and distribution packages are): pglz costs several times more CPU per
-- revision stored.

-- posts_v1: current state of every post, in every status.
CREATE TABLE IF NOT EXISTS posts (
    id            uuid        PRIMARY KEY,
    slug          text        NOT NULL UNIQUE,
    title         text        NOT NULL,
    body          text        COMPRESSION lz4 NOT NULL, -- markdown
    body_html     text        COMPRESSION lz4,       -- sanitized HTML
    excerpt       text        NOT NULL,
    tags          text[]      NOT NULL DEFAULT '{}',
    status        text        NOT NULL,
    author_id     uuid        NOT NULL,
    version       bigint      NOT NULL,              -- stream version of the last applied event
    revision      integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    published_at  timestamptz,
    scheduled_for timestamptz,
    deleted_at    timestamptz,
    last_position bigint      NOT NULL,              -- idempotency guard
    -- List order: newest first by publication, unpublished posts by creation.
    sort_at       timestamptz NOT NULL GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED,
    search        tsvector    NOT NULL GENERATED ALWAYS AS (
                      setweight(to_tsvector('english', title), 'A') ||
                      setweight(to_tsvector('english', excerpt), 'B') ||
                      setweight(to_tsvector('english', body), 'C')) STORED
);
CREATE INDEX IF NOT EXISTS posts_status_sort_idx ON posts (status, sort_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS posts_sort_idx ON posts (sort_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS posts_author_idx ON posts (author_id, sort_at DESC, id DESC);
-- fastupdate off: a GIN pending list left by bulk writes (rebuilds) made
-- searches ~200x slower here until the next vacuum; posts are written once per
-- post per projection batch, so direct index maintenance is affordable.
CREATE INDEX IF NOT EXISTS posts_tags_idx ON posts USING gin (tags) WITH (fastupdate = off);
CREATE INDEX IF NOT EXISTS posts_search_idx ON posts USING gin (search) WITH (fastupdate = off);

-- posts_v1: tag counts over published posts, kept by the same projection.
-- Rows whose count drops to 0 stay (the finder hides them).
CREATE TABLE IF NOT EXISTS tags (
    name  text    PRIMARY KEY,
    count integer NOT NULL DEFAULT 0
);

-- post_history_v1: every content snapshot (markdown only).
CREATE TABLE IF NOT EXISTS post_revisions (
    post_id       uuid        NOT NULL,
    revision      integer     NOT NULL,
    version       bigint      NOT NULL,
    title         text        NOT NULL,
    excerpt       text        NOT NULL,
    body          text        COMPRESSION lz4 NOT NULL,
    tags          text[]      NOT NULL DEFAULT '{}',
    author_id     uuid        NOT NULL,   -- the post's author
    editor_id     text        NOT NULL,   -- who made this revision (metadata actor)
    at            timestamptz NOT NULL,
    note          text        NOT NULL DEFAULT '',
    event_id      uuid        NOT NULL,
    position      bigint      NOT NULL,
    size          integer     NOT NULL,   -- body bytes
    kind          text        NOT NULL CHECK (kind IN ('drafted', 'edited', 'reverted')),
    reverted_from integer,
    PRIMARY KEY (post_id, revision)
);

-- post_history_v1: timeline of every post event.
CREATE TABLE IF NOT EXISTS post_history (
    post_id        uuid        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    actor_id       text        NOT NULL,
    actor_role     text        NOT NULL,
    at             timestamptz NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text        NOT NULL,
    summary        text        NOT NULL,
    event_id       uuid        NOT NULL,
    position       bigint      NOT NULL,
    PRIMARY KEY (post_id, version)
);

-- users_v1: user accounts. Never password hashes.
CREATE TABLE IF NOT EXISTS users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    bio           text        NOT NULL DEFAULT '',
    role          text        NOT NULL,
    status        text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    last_position bigint      NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_idx ON users (username);

-- audit_v1: every event of every stream, without payloads.
CREATE TABLE IF NOT EXISTS audit_log (
    position       bigint      PRIMARY KEY,
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL,
    type           text        NOT NULL,
    actor_id       text        NOT NULL,
    actor_role     text        NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text        NOT NULL,
    at             timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor_id, position DESC);
CREATE INDEX IF NOT EXISTS audit_log_type_idx ON audit_log (type, position DESC);
CREATE INDEX IF NOT EXISTS audit_log_stream_idx ON audit_log (stream_id text_pattern_ops, position DESC);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at DESC, position DESC);
