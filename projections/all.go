package projections

import "time"

// All returns the read-model projections the runtime runs, in a fresh
// instance each call: posts_v1 (posts, tags), post_history_v1
// (post_revisions, post_history), users_v1 (users), audit_v1 (audit_log) and
// media_v1 (media, media_post_usage) and search_v1 (post_search). Their
// tables are created by postgres/migrations/0002_read_models.sql,
// 0004_media.sql, 0005_feature_images.sql and 0006_post_search.sql.
func All() []Projection {
	return []Projection{NewPosts(), NewHistory(), NewUsers(), NewAudit(), NewMedia(), NewSearch()}
}

// BatchIdle implements BatchPacing: revision history follows posts.
func (*History) BatchIdle() time.Duration { return patientIdle }

// BatchIdle implements BatchPacing: the audit log follows posts.
func (*Audit) BatchIdle() time.Duration { return patientIdle }

// BatchIdle implements BatchPacing: search results follow posts.
func (*Search) BatchIdle() time.Duration { return patientIdle }

// BatchIdle implements BatchPacing: users rarely change under a load of post
// edits, which they only pass.
func (*Users) BatchIdle() time.Duration { return patientIdle }

// BatchIdle implements BatchPacing: media, like users, mostly pass post edits.
func (*Media) BatchIdle() time.Duration { return patientIdle }
