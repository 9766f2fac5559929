package domain

import (
	"regexp"
	"strings"
	"unicode"
)

// MaxSlugLen is the longest slug accepted.
const MaxSlugLen = 120

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// ValidSlug reports whether s is a well-formed slug: lower-case ASCII letters
// and digits in groups joined by single hyphens, at most MaxSlugLen bytes.
func ValidSlug(s string) bool {
	return len(s) <= MaxSlugLen && slugPattern.MatchString(s)
}

// latinFold maps common accented Latin letters to ASCII so that Slugify keeps
// them readable ("Crème brûlée" becomes "creme-brulee").
var latinFold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'æ': "ae",
	'ç': "c", 'č': "c", 'ć': "c",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ě': "e", 'ę': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i",
	'ð': "d", 'ď': "d", 'đ': "d",
	'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'œ': "oe",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ů': "u",
	'ý': "y", 'ÿ': "y",
	'ß': "ss", 'þ': "th",
	'ł': "l", 'ř': "r", 'š': "s", 'ś': "s", 'ť': "t", 'ž': "z", 'ź': "z", 'ż': "z",
}

// Slugify derives a slug from a title: lower-cased, common accented letters
// folded to ASCII, every other run of characters turned into one hyphen,
// trimmed to MaxSlugLen at a word boundary where possible. A title without any
// usable character yields "post". The result always satisfies ValidSlug.
func Slugify(title string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		case latinFold[r] != "":
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteString(latinFold[r])
		case r == '\'' || r == '’' || unicode.Is(unicode.Mn, r):
			// Apostrophes and combining marks vanish: "don't" -> "dont".
		default:
			hyphen = true
		}
	}
	return TruncateSlug(b.String(), MaxSlugLen)
}

// TruncateSlug shortens a valid slug to at most n bytes, cutting at the last
// hyphen when one falls in the second half, and never leaving a trailing
// hyphen. An empty result becomes "post".
func TruncateSlug(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		if i := strings.LastIndexByte(s, '-'); i > n/2 {
			s = s[:i]
		}
		s = strings.TrimRight(s, "-")
	}
	if s == "" {
		return "post"
	}
	return s
}
