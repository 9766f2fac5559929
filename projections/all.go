package projections

// All returns the read-model projections the runtime runs, in a fresh
// instance each call: posts_v1 (posts, tags), post_history_v1
// (post_revisions, post_history), users_v1 (users), audit_v1 (audit_log) and
// media_v1 (media, media_post_usage) and search_v1 (post_search). Their
// tables are created by postgres/migrations/0002_read_models.sql,
// 0004_media.sql, 0005_feature_images.sql and 0006_post_search.sql.
func All() []Projection {
	return []Projection{NewPosts(), NewHistory(), NewUsers(), NewAudit(), NewMedia(), NewSearch()}
}
