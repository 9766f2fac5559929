-- 0005_feature_images: media on the posts_v1 and users_v1 read models.
-- posts: the feature image (PostFeatureImageSet); its renditions are read
-- from the media table (media_v1) by media id. users: the profile picture
-- (UserAvatarChanged). Additive columns with defaults: rows projected
-- before this migration have none, which is right for logs that predate
-- the media events. Same rules as 0002: no triggers or foreign keys.
ALTER TABLE posts ADD COLUMN IF NOT EXISTS feature_media_id uuid;
ALTER TABLE posts ADD COLUMN IF NOT EXISTS feature_hash text NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN IF NOT EXISTS feature_alt text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_media_id uuid;
ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_hash text NOT NULL DEFAULT '';
