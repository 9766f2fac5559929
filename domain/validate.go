package domain

import (
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits enforced by the aggregates.
const (
	MaxTitleChars       = 300
	MaxBodyBytes        = 200_000
	MaxExcerptChars     = 1_000
	MaxTags             = 20
	MaxTagLen           = 40
	MaxNoteChars        = 1_000 // edit and revert notes
	MaxCommentChars     = 2_000 // review comments, unpublish and deactivation reasons
	MaxDisplayNameChars = 100
	MaxBioChars         = 2_000
	MinPasswordChars    = 10
	MaxPasswordChars    = 256
	MaxEmailBytes       = 254
)

var (
	tagPattern      = regexp.MustCompile(`^[a-z0-9-]+$`)
	usernamePattern = regexp.MustCompile(`^[a-z0-9_]{3,32}$`)
)

// NormalizeTags lower-cases and trims every tag, drops empty ones and
// duplicates (keeping first occurrences in order). It never returns nil.
func NormalizeTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || slices.Contains(out, t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// NormalizeContent returns c with the title trimmed and the tags normalized.
func NormalizeContent(c PostContent) PostContent {
	c.Title = strings.TrimSpace(c.Title)
	c.Tags = NormalizeTags(c.Tags)
	return c
}

// ValidateContent checks normalized content against the limits: title
// 1..300 characters, body at most 200,000 bytes of UTF-8, excerpt at most
// 1,000 characters, at most 20 tags of [a-z0-9-] up to 40 characters each.
// It returns a KindInvalid *Error with code "invalid_post" and per-field messages.
func ValidateContent(c PostContent) error {
	f := FieldErrors{}
	switch n := utf8.RuneCountInString(c.Title); {
	case n == 0:
		f.Add("title", "is required")
	case n > MaxTitleChars:
		f.Add("title", "must be at most 300 characters")
	}
	if !utf8.ValidString(c.Title) {
		f.Add("title", "must be valid UTF-8")
	}
	if len(c.Body) > MaxBodyBytes {
		f.Add("body", "must be at most 200000 bytes")
	}
	if !utf8.ValidString(c.Body) {
		f.Add("body", "must be valid UTF-8")
	}
	if utf8.RuneCountInString(c.Excerpt) > MaxExcerptChars {
		f.Add("excerpt", "must be at most 1000 characters")
	}
	if !utf8.ValidString(c.Excerpt) {
		f.Add("excerpt", "must be valid UTF-8")
	}
	if len(c.Tags) > MaxTags {
		f.Add("tags", "must be at most 20 tags")
	}
	for _, t := range c.Tags {
		if len(t) > MaxTagLen || !tagPattern.MatchString(t) {
			f.Add("tags", "tag "+quoteShort(t)+" must be 1..40 characters of a-z, 0-9 and -")
		}
	}
	return f.Err("invalid_post")
}

// ValidateSlug returns a KindInvalid *Error with code "invalid_slug" unless
// ValidSlug(s).
func ValidateSlug(s string) error {
	if ValidSlug(s) {
		return nil
	}
	return Invalid("invalid_slug", "the slug is invalid", map[string][]string{
		"slug": {"must be lower-case letters and digits separated by single hyphens, at most 120 characters"},
	})
}

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// NormalizeUsername trims and lower-cases a username.
func NormalizeUsername(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// ValidEmail reports whether email is a bare address (no display name or
// angle brackets) accepted by net/mail, with a domain part, at most 254 bytes.
func ValidEmail(email string) bool {
	if email == "" || len(email) > MaxEmailBytes {
		return false
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	return at > 0 && at < len(email)-1
}

// ValidUsername reports whether name matches [a-z0-9_]{3,32}.
func ValidUsername(name string) bool { return usernamePattern.MatchString(name) }

// ValidatePassword checks a plain password's length (10..256 characters)
// before it is hashed. It returns a KindInvalid *Error with code
// "invalid_password".
func ValidatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordChars || n > MaxPasswordChars {
		return Invalid("invalid_password", "the password is invalid", map[string][]string{
			"password": {"must be 10..256 characters"},
		})
	}
	return nil
}

func validateDisplayName(f FieldErrors, name string) {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxDisplayNameChars || !utf8.ValidString(name) {
		f.Add("display_name", "must be 1..100 characters")
	}
}

func validateBio(f FieldErrors, bio string) {
	if utf8.RuneCountInString(bio) > MaxBioChars || !utf8.ValidString(bio) {
		f.Add("bio", "must be at most 2000 characters")
	}
}

func validateText(field, code, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min || n > max || !utf8.ValidString(s) {
		msg := "must be at most " + strconv.Itoa(max) + " characters"
		if min > 0 {
			msg = "must be " + strconv.Itoa(min) + ".." + strconv.Itoa(max) + " characters"
		}
		return Invalid(code, "the "+field+" is invalid", map[string][]string{field: {msg}})
	}
	return nil
}

func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 50 {
		s = string([]rune(s)[:50]) + "…"
	}
	return `"` + s + `"`
}
