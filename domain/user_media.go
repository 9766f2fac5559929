package domain

import "time"

// Avatar is a user's profile picture; the zero value means none.
type Avatar struct {
	MediaID string
	Hash    string
}

// applyMedia folds the media events of a user stream.
func (u *User) applyMedia(e Event) {
	if e, ok := e.(UserAvatarChanged); ok {
		u.Avatar = Avatar{MediaID: e.MediaID, Hash: e.Hash}
	}
}

// ChangeAvatar decides a new profile picture (an empty mediaID removes it),
// by the account's owner or an admin; the account must be active. The
// caller checks that the media item exists.
func (u *User) ChangeAvatar(actor Actor, mediaID, hash string, now time.Time) error {
	if err := u.checkSelfOrAdmin(actor); err != nil {
		return err
	}
	if !u.Active() {
		return invalidTransition("the account is deactivated")
	}
	if mediaID == "" {
		hash = ""
	} else if len(hash) != 64 {
		return Invalid("invalid_avatar", "the avatar is invalid", map[string][]string{"media_id": {"must name an uploaded media item"}})
	}
	next := Avatar{MediaID: mediaID, Hash: hash}
	if next == u.Avatar {
		return noChanges("the user already has this avatar")
	}
	u.record(UserAvatarChanged{MediaID: mediaID, Hash: hash}, now)
	return nil
}
