// Package media turns uploaded image bytes into safe, metadata-free
// renditions and stores them content-addressed. It sniffs the type from the
// bytes (never from the client), enforces byte and pixel limits before any
// pixel buffer is allocated, applies the EXIF orientation, resizes with a
// Catmull-Rom filter and re-encodes every rendition, so no EXIF, GPS or
// trailing payload of the original survives in what is served.
//
// Errors returned to callers are *domain.Error values:
//
//	KindTooLarge "media_too_large"         the upload exceeds Limits.MaxBytes (413)
//	KindInvalid  "unsupported_media_type"  not JPEG, PNG, GIF or WebP by its bytes (415 is the better HTTP status)
//	KindInvalid  "media_too_many_pixels"   the header declares more than Limits.MaxPixels (422)
//	KindInvalid  "corrupt_image"           truncated or undecodable image data (422)
//	KindInvalid  "empty_upload"            no bytes at all (422)
package media

import (
	"errors"
	"fmt"
)

// Default limits.
const (
	// DefaultMaxBytes is the largest accepted upload: 10 MiB.
	DefaultMaxBytes int64 = 10 << 20
	// DefaultMaxPixels is the largest accepted width×height: 40 megapixels.
	DefaultMaxPixels int64 = 40_000_000
	// DefaultMaxConcurrent is how many images a Processor decodes at once.
	DefaultMaxConcurrent = 2
)

// Supported MIME types of uploads (by their bytes).
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeGIF  = "image/gif"
	TypeWebP = "image/webp"
)

// Limits bounds what a Processor accepts. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the largest upload in bytes (default DefaultMaxBytes).
	MaxBytes int64
	// MaxPixels is the largest width×height declared by an image header
	// (default DefaultMaxPixels). It is checked before decoding.
	MaxPixels int64
	// MaxConcurrent bounds the images decoded at the same time, which bounds
	// memory (default DefaultMaxConcurrent).
	MaxConcurrent int
}

// Validate reports whether l is usable (negative values are not).
func (l Limits) Validate() error {
	if l.MaxBytes < 0 || l.MaxPixels < 0 || l.MaxConcurrent < 0 {
		return errors.New("media limits: values must not be negative")
	}
	return nil
}

// withDefaults returns l with zero fields replaced by the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxConcurrent == 0 {
		l.MaxConcurrent = DefaultMaxConcurrent
	}
	return l
}

// Spec describes one rendition to produce. A rendition fits within MaxWidth
// × MaxHeight (0 = unbounded in that axis) keeping the aspect ratio, and is
// never larger than the (oriented) original.
type Spec struct {
	Name      string
	MaxWidth  int
	MaxHeight int
}

// Profile is the set of renditions produced for one kind of upload.
type Profile []Spec

// Rendition names.
const (
	RenditionOriginal = "original" // the uploaded bytes; stored, never served
	RenditionThumb    = "thumb"
	RenditionW320     = "w320"
	RenditionW640     = "w640"
	RenditionW1280    = "w1280"
	RenditionSmall    = "small"
)

// LibraryProfile is what media library uploads get: a thumbnail fitting
// 480×480 and widths 320, 640 and 1280 for srcset. Width renditions of an
// image narrower than their width are made at the image's width, and
// dropped when they would repeat a smaller one.
var LibraryProfile = Profile{
	{Name: RenditionThumb, MaxWidth: 480, MaxHeight: 480},
	{Name: RenditionW320, MaxWidth: 320},
	{Name: RenditionW640, MaxWidth: 640},
	{Name: RenditionW1280, MaxWidth: 1280},
}

// AvatarProfile is what profile pictures get: nothing larger than 480×480.
var AvatarProfile = Profile{
	{Name: RenditionThumb, MaxWidth: 480, MaxHeight: 480},
	{Name: RenditionSmall, MaxWidth: 128, MaxHeight: 128},
}

// ExtensionOf returns the file extension (without dot) used for a MIME type
// of a rendition, or "" for unknown types.
func ExtensionOf(mimeType string) string {
	switch mimeType {
	case TypeJPEG:
		return "jpg"
	case TypePNG:
		return "png"
	case TypeGIF:
		return "gif"
	case TypeWebP:
		return "webp"
	}
	return ""
}

// validName reports whether s is a safe rendition name: 1..32 of [a-z0-9_-].
func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidHash reports whether s is a lower-case hex SHA-256 digest.
func ValidHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkKey validates a blob key.
func checkKey(hash, rendition string) error {
	if !ValidHash(hash) {
		return fmt.Errorf("invalid media hash %q: %w", hash, ErrInvalidKey)
	}
	if !validName(rendition) {
		return fmt.Errorf("invalid rendition name %q: %w", rendition, ErrInvalidKey)
	}
	return nil
}

// ErrInvalidKey reports a hash or rendition name that is not well-formed.
var ErrInvalidKey = errors.New("invalid blob key")
