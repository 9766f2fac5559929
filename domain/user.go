package domain

import (
	"strings"
	"time"
)

// User is the user aggregate. Passwords are only ever held as hashes; hashing
// and verifying is the commands package's business.
//
// Rules: profiles are changed by their owner or an admin; passwords by their
// owner only (the current password is verified by the caller); roles,
// deactivation and reactivation by admins only, never on their own account
// (so an acting admin always remains an admin). Auditors change nothing,
// except that they may rotate their own password: refusing that would only
// weaken their account's security and changes no content or other account.
type User struct {
	ID           string
	Email        string // normalized (trimmed, lower-case)
	Username     string // normalized (trimmed, lower-case)
	DisplayName  string
	Bio          string
	Role         Role
	Status       UserStatus
	PasswordHash string
	// Version is the stream version, including pending changes.
	Version   uint64
	CreatedAt time.Time
	UpdatedAt time.Time
	// Avatar is the profile picture (see user_media.go).
	Avatar Avatar

	changeLog
}

// NewUserFromHistory folds a user's stored events, oldest first. It returns
// nil when history is empty.
func NewUserFromHistory(history []EventAt) *User {
	if len(history) == 0 {
		return nil
	}
	u := &User{}
	for _, e := range history {
		u.Apply(e.Event, e.OccurredAt)
	}
	return u
}

// Clone returns a copy of u without pending changes.
func (u *User) Clone() *User {
	c := *u
	c.changes = nil
	return &c
}

// OriginalVersion is the stream version before the pending changes.
func (u *User) OriginalVersion() uint64 { return u.Version - uint64(len(u.changes)) }

// Active reports whether the account may sign in.
func (u *User) Active() bool { return u.Status == UserStatusActive }

// Actor returns the actor acting as u.
func (u *User) Actor() Actor { return Actor{ID: u.ID, Role: u.Role} }

// Apply folds one stored event into the state; at is when it occurred.
func (u *User) Apply(e Event, at time.Time) {
	u.Version++
	u.UpdatedAt = at
	switch e := e.(type) {
	case UserRegistered:
		u.ID, u.Email, u.Username, u.DisplayName = e.UserID, e.Email, e.Username, e.DisplayName
		u.PasswordHash, u.Role = e.PasswordHash, e.Role
		u.Status = UserStatusActive
		u.CreatedAt = at
	case UserProfileUpdated:
		u.DisplayName, u.Bio = e.DisplayName, e.Bio
	case UserPasswordChanged:
		u.PasswordHash = e.PasswordHash
	case UserRoleChanged:
		u.Role = e.To
	case UserDeactivated:
		u.Status = UserStatusDeactivated
	case UserReactivated:
		u.Status = UserStatusActive
	default:
		u.applyMedia(e)
	}
}

func (u *User) record(e Event, now time.Time) {
	u.Apply(e, now)
	u.changes = append(u.changes, EventAt{Event: e, OccurredAt: now})
}

// RegisterUser decides a new account. email and username are normalized and
// validated here, displayName trimmed; role is chosen by the caller (admin for
// the first account, reader otherwise) and must be a valid account role.
// passwordHash must be the encoded hash of a password that passed
// ValidatePassword.
func RegisterUser(userID, email, username, displayName, passwordHash string, role Role, now time.Time) (*User, error) {
	email, username, displayName = NormalizeEmail(email), NormalizeUsername(username), strings.TrimSpace(displayName)
	f := FieldErrors{}
	if userID == "" {
		f.Add("id", "is required")
	}
	if !ValidEmail(email) {
		f.Add("email", "must be a valid email address")
	}
	if !ValidUsername(username) {
		f.Add("username", "must be 3..32 characters of a-z, 0-9 and _")
	}
	validateDisplayName(f, displayName)
	if passwordHash == "" {
		f.Add("password", "is required")
	}
	if !role.Valid() {
		f.Add("role", "must be one of reader, author, editor, auditor, admin")
	}
	if err := f.Err("invalid_user"); err != nil {
		return nil, err
	}
	u := &User{}
	u.record(UserRegistered{UserID: userID, Email: email, Username: username, DisplayName: displayName, PasswordHash: passwordHash, Role: role}, now)
	return u, nil
}

func (u *User) checkSelfOrAdmin(actor Actor) error {
	if actor.Role == RoleAdmin {
		return nil
	}
	if actor.Anonymous() || actor.ID != u.ID {
		return Errorf(KindForbidden, "not_owner", "only the account's owner or an admin may change it")
	}
	if actor.Role == RoleAuditor || actor.Role == RoleSystem {
		return forbidden("role %q changes nothing", actor.Role)
	}
	return nil
}

func (u *User) checkAdmin(actor Actor) error {
	if !actor.Role.CanManageUsers() {
		return forbidden("only admins may manage users")
	}
	if actor.ID == u.ID {
		return Errorf(KindForbidden, "self_management", "admins may not change their own role or status")
	}
	return nil
}

// UpdateProfile decides new profile fields (display name 1..100 characters,
// bio up to 2,000), by the account's owner or an admin.
func (u *User) UpdateProfile(actor Actor, displayName, bio string, now time.Time) error {
	if err := u.checkSelfOrAdmin(actor); err != nil {
		return err
	}
	displayName, bio = strings.TrimSpace(displayName), strings.TrimSpace(bio)
	f := FieldErrors{}
	validateDisplayName(f, displayName)
	validateBio(f, bio)
	if err := f.Err("invalid_profile"); err != nil {
		return err
	}
	if displayName == u.DisplayName && bio == u.Bio {
		return noChanges("the profile is unchanged")
	}
	u.record(UserProfileUpdated{DisplayName: displayName, Bio: bio}, now)
	return nil
}

// ChangePassword decides a new password hash, by the account's owner only
// (auditors included). The caller verifies the current password and validates
// the new one before hashing it.
func (u *User) ChangePassword(actor Actor, passwordHash string, now time.Time) error {
	if actor.Anonymous() || actor.ID != u.ID {
		return Errorf(KindForbidden, "not_owner", "only the account's owner may change its password")
	}
	if !u.Active() {
		return invalidTransition("the account is deactivated")
	}
	if passwordHash == "" {
		return Invalid("invalid_password", "the password is invalid", map[string][]string{"password": {"is required"}})
	}
	u.record(UserPasswordChanged{PasswordHash: passwordHash}, now)
	return nil
}

// ChangeRole decides a new role, by an admin for another account.
func (u *User) ChangeRole(actor Actor, role Role, now time.Time) error {
	if err := u.checkAdmin(actor); err != nil {
		return err
	}
	if !role.Valid() {
		return Invalid("invalid_role", "the role is invalid", map[string][]string{"role": {"must be one of reader, author, editor, auditor, admin"}})
	}
	if role == u.Role {
		return noChanges("the user already has role %s", role)
	}
	u.record(UserRoleChanged{From: u.Role, To: role}, now)
	return nil
}

// Deactivate decides that the account can no longer sign in, by an admin for
// another account.
func (u *User) Deactivate(actor Actor, reason string, now time.Time) error {
	if err := u.checkAdmin(actor); err != nil {
		return err
	}
	if !u.Active() {
		return invalidTransition("the account is already deactivated")
	}
	if err := validateText("reason", "invalid_reason", reason, 0, MaxCommentChars); err != nil {
		return err
	}
	u.record(UserDeactivated{Reason: reason}, now)
	return nil
}

// Reactivate decides that a deactivated account may sign in again, by an admin.
func (u *User) Reactivate(actor Actor, now time.Time) error {
	if err := u.checkAdmin(actor); err != nil {
		return err
	}
	if u.Active() {
		return invalidTransition("the account is active")
	}
	u.record(UserReactivated{}, now)
	return nil
}
