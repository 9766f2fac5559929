-- search_v1: the full-text vector of every post, kept by its own projection
-- (projections/search.go) instead of a generated column of posts.
--
-- Why: computing a post's tsvector and adding its lexemes to the GIN index
-- was about 90 % of what writing a post's row costs PostgreSQL (16 edited
-- posts: ~17 ms with the generated column and its index, ~1.2 ms without;
-- docs/BENCHMARKS.md). That cost sat on the path that makes an edit visible
-- in posts. In its own projection it runs beside posts_v1, which stays
-- cheap, and searches wait for search_v1 when asked to read their writes
-- (X-Min-Position).
--
-- Rules of 0002_read_models.sql apply (unqualified names, no triggers or
-- cross-projection foreign keys: rebuilt blue/green with LIKE … INCLUDING ALL).
CREATE TABLE IF NOT EXISTS post_search (
    post_id       uuid     PRIMARY KEY,
    search        tsvector COMPRESSION lz4 NOT NULL,
    last_position bigint   NOT NULL -- idempotency guard: the content event it holds
);
-- fastupdate on, with a small pending list: new vectors are appended to the
-- list and merged into the index in bulk by the projection's own writes (or
-- VACUUM) once it holds 256 kB, which costs a fraction of adding every
-- lexeme on its own; a search scans at most those 256 kB unmerged.
CREATE INDEX IF NOT EXISTS post_search_idx ON post_search USING gin (search)
    WITH (fastupdate = on, gin_pending_list_limit = 256);

-- A database whose posts table still has the generated column: move the
-- vectors over, and start search_v1 where posts_v1 is, whose rows they were
-- computed from. The rest of posts (and posts_v1's checkpoint) is unchanged.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = 'posts'::regclass AND attname = 'search' AND NOT attisdropped) THEN
        INSERT INTO post_search (post_id, search, last_position)
        SELECT id, search, last_position FROM posts
        ON CONFLICT (post_id) DO NOTHING;
        INSERT INTO projection_checkpoints (name, position, events_applied)
        SELECT 'search_v1', position, events_applied FROM projection_checkpoints WHERE name = 'posts_v1'
        ON CONFLICT (name) DO NOTHING;
        ALTER TABLE posts DROP COLUMN search; -- and posts_search_idx with it
    END IF;
END
$$;
