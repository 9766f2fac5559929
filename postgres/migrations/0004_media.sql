-- 0004_media: read models of the media_v1 projection (projections/media.go).
-- Same rules as 0002: unqualified names, no triggers, serials or foreign keys.

-- media_v1: the media library, one row per media item (deleted ones kept
-- with deleted_at set).
CREATE TABLE IF NOT EXISTS media (
    id            uuid        PRIMARY KEY,
    hash          text        NOT NULL,              -- hex SHA-256 of the uploaded bytes
    type          text        NOT NULL,              -- sniffed MIME type of the upload
    size          bigint      NOT NULL,
    width         integer     NOT NULL,
    height        integer     NOT NULL,
    alt           text        NOT NULL DEFAULT '',
    uploader_id   uuid        NOT NULL,
    renditions    jsonb       NOT NULL DEFAULT '[]', -- [{name, width, height, type, size}]
    version       bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    last_position bigint      NOT NULL               -- idempotency guard
);
-- Library lists: newest first with keyset cursor (created_at, id), live
-- items only, optionally by uploader or type.
CREATE INDEX IF NOT EXISTS media_newest_idx ON media (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS media_uploader_idx ON media (uploader_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS media_type_idx ON media (type, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS media_hash_idx ON media (hash);

-- media_v1: every post's status and feature image, so deleting a media item
-- can be refused while published posts show it.
CREATE TABLE IF NOT EXISTS media_post_usage (
    post_id       uuid        PRIMARY KEY,
    status        text        NOT NULL,
    media_id      uuid,
    last_position bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS media_post_usage_media_idx ON media_post_usage (media_id, status) WHERE media_id IS NOT NULL;
