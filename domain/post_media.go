package domain

import "time"

// FeatureImage is a post's feature image; the zero value means none.
type FeatureImage struct {
	MediaID string
	Hash    string
	Alt     string
}

// applyMedia folds the media events of a post stream.
func (p *Post) applyMedia(e Event) {
	if e, ok := e.(PostFeatureImageSet); ok {
		p.FeatureImage = FeatureImage{MediaID: e.MediaID, Hash: e.Hash, Alt: e.Alt}
	}
}

// SetFeatureImage decides a new feature image: mediaID and hash name an
// existing media item (the caller checks it exists and is not deleted), alt
// is its alternative text for this post. An empty mediaID removes the
// feature image. Allowed to whoever may edit the post, on posts that are not
// deleted or archived.
func (p *Post) SetFeatureImage(actor Actor, mediaID, hash, alt string, now time.Time) error {
	if err := p.checkEdit(actor); err != nil {
		return err
	}
	if err := p.checkChangeable(); err != nil {
		return err
	}
	alt = NormalizeAlt(alt)
	if mediaID == "" {
		hash, alt = "", ""
	} else if len(hash) != 64 {
		return Invalid("invalid_feature_image", "the feature image is invalid", map[string][]string{"media_id": {"must name an uploaded media item"}})
	}
	if err := ValidateAlt(alt); err != nil {
		return err
	}
	next := FeatureImage{MediaID: mediaID, Hash: hash, Alt: alt}
	if next == p.FeatureImage {
		return noChanges("the post already has this feature image")
	}
	p.record(PostFeatureImageSet{MediaID: mediaID, Alt: alt, Hash: hash}, now)
	return nil
}
