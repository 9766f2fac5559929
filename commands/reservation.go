package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Reservation streams make unique values (emails, usernames, slugs) strongly
// consistent on every store: a value belongs to the owner of the stream's
// last ReservationClaimed unless a ReservationReleased follows it.

// firstAdminStream is claimed by the first account ever registered.
const firstAdminStream = "system-first-admin"

// EmailStream returns the reservation stream of an email address.
func EmailStream(email string) string {
	sum := sha256.Sum256([]byte(domain.NormalizeEmail(email)))
	return domain.EmailStreamPrefix + hex.EncodeToString(sum[:])
}

// UsernameStream returns the reservation stream of a username.
func UsernameStream(username string) string {
	return domain.UsernameStreamPrefix + domain.NormalizeUsername(username)
}

// SlugStream returns the reservation stream of a slug.
func SlugStream(slug string) string { return domain.SlugStreamPrefix + slug }

// reservation is the state of a reservation stream.
type reservation struct {
	version uint64 // 0: the stream does not exist
	owner   string // "" when free
}

// readReservation reads the last event of a reservation stream.
func (h *Handler) readReservation(ctx context.Context, stream string) (reservation, error) {
	recs, err := h.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, Limit: 1})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return reservation{}, nil
	}
	if err != nil {
		return reservation{}, fmt.Errorf("read reservation %s: %w", stream, err)
	}
	if len(recs) == 0 {
		return reservation{}, nil
	}
	d, err := decode(recs[0])
	if err != nil {
		return reservation{}, err
	}
	r := reservation{version: d.rec.Version}
	if c, ok := d.event.(domain.ReservationClaimed); ok {
		r.owner = c.OwnerID
	}
	return r, nil
}

// claim reserves stream's value for owner. It reports whether this call made
// the claim (false when owner already held it) and fails with a KindConflict
// error of code takenCode when someone else holds it.
func (h *Handler) claim(ctx context.Context, m Meta, stream, owner, value, takenCode string, now time.Time) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		r, err := h.readReservation(ctx, stream)
		if err != nil {
			return false, err
		}
		switch r.owner {
		case owner:
			return false, nil
		case "":
		default:
			return false, domain.Errorf(domain.KindConflict, takenCode, "%s is already taken", what(takenCode))
		}
		_, err = h.appendChanges(ctx, m, stream, r.version, []domain.EventAt{{Event: domain.ReservationClaimed{OwnerID: owner, Value: value}, OccurredAt: now}})
		if err == nil {
			return true, nil
		}
		if domain.CodeOf(err) != "version_conflict" {
			return false, err
		}
		// Someone appended meanwhile: look again.
	}
	return false, domain.Errorf(domain.KindConflict, takenCode, "%s is contended; try again", what(takenCode))
}

// release frees stream's value if owner holds it. It is best effort: a
// failure leaves the value reserved, which is safe.
func (h *Handler) release(ctx context.Context, m Meta, stream, owner, value string, now time.Time) error {
	// Release even when the command's context was cancelled: that is often
	// why a later step failed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for attempt := 0; attempt < 5; attempt++ {
		r, err := h.readReservation(ctx, stream)
		if err != nil {
			return err
		}
		if r.owner != owner {
			return nil
		}
		_, err = h.appendChanges(ctx, m, stream, r.version, []domain.EventAt{{Event: domain.ReservationReleased{OwnerID: owner, Value: value}, OccurredAt: now}})
		if err == nil || domain.CodeOf(err) != "version_conflict" {
			return err
		}
	}
	return fmt.Errorf("release %s: contended", stream)
}

// owner returns who holds stream's value ("" when free or unknown).
func (h *Handler) owner(ctx context.Context, stream string) (string, error) {
	r, err := h.readReservation(ctx, stream)
	return r.owner, err
}

func what(code string) string {
	switch code {
	case "email_taken":
		return "the email address"
	case "username_taken":
		return "the username"
	case "slug_taken":
		return "the slug"
	}
	return "the value"
}
