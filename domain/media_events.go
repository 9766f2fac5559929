package domain

// Events that attach media to posts and users. Never renamed.
const (
	// EventPostFeatureImageSet is stored on a post stream.
	EventPostFeatureImageSet = "PostFeatureImageSet"
	// EventUserAvatarChanged is stored on a user stream.
	EventUserAvatarChanged = "UserAvatarChanged"
)

// PostFeatureImageSet sets (or, with an empty MediaID, removes) a post's
// feature image. Hash is the media's content hash, so renditions can be
// addressed without loading the media item; Alt is the alternative text
// used for the post (the media's own alt text unless overridden).
type PostFeatureImageSet struct {
	MediaID string `json:"media_id"`
	Alt     string `json:"alt"`
	Hash    string `json:"hash"`
}

// UserAvatarChanged sets (or, with an empty MediaID, removes) a user's
// profile picture.
type UserAvatarChanged struct {
	MediaID string `json:"media_id"`
	Hash    string `json:"hash"`
}

// EventType implementations.
func (PostFeatureImageSet) EventType() string { return EventPostFeatureImageSet }
func (UserAvatarChanged) EventType() string   { return EventUserAvatarChanged }

func init() {
	register[PostFeatureImageSet](1)
	register[UserAvatarChanged](1)
}
