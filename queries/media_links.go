package queries

import "context"

// MediaLinkFinder reads the media attached to posts and users: feature
// images (posts_v1 columns) and profile pictures (users_v1 columns), with
// the renditions of their media items (media_v1). Package postgres
// implements it (postgres.Reader); the HTTP layer builds URLs and srcsets.
type MediaLinkFinder interface {
	// FeatureImages returns the feature images of the given posts, by post
	// ID; posts without one are absent.
	FeatureImages(ctx context.Context, postIDs []string) (map[string]MediaLink, error)
	// Avatars returns the profile pictures of the given users, by user ID;
	// users without one are absent.
	Avatars(ctx context.Context, userIDs []string) (map[string]MediaLink, error)
}

// MediaLink is a media item attached to a post or user. Alt is the post's
// alternative text for its feature image (empty for avatars); Width,
// Height and Renditions are those of the media item (empty when the media
// projection has not seen it yet).
type MediaLink struct {
	MediaID    string
	Hash       string
	Alt        string
	Width      int
	Height     int
	Renditions []MediaRendition
}
