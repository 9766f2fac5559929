package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// JPEGQuality is the quality renditions are encoded with.
const JPEGQuality = 85

// Output is one encoded rendition.
type Output struct {
	Name   string
	Width  int
	Height int
	Type   string // MIME type: image/jpeg or image/png
	Data   []byte
}

// Result is a processed upload.
type Result struct {
	// Hash is the lower-case hex SHA-256 of the uploaded bytes.
	Hash string
	// Type is the MIME type sniffed from the bytes.
	Type string
	// Size is the upload's length in bytes.
	Size int64
	// Width and Height are the image's dimensions as displayed (after the
	// EXIF orientation).
	Width, Height int
	// Original holds the uploaded bytes unchanged. They may carry metadata
	// (EXIF, GPS): store them privately, never serve them.
	Original []byte
	// Renditions are the re-encoded, metadata-free renditions in profile order.
	Renditions []Output
}

// Processor validates and processes uploads. It is safe for concurrent use;
// at most Limits.MaxConcurrent uploads are decoded at once.
type Processor struct {
	limits Limits
	sem    chan struct{}
}

// NewProcessor returns a Processor enforcing limits (zero fields: defaults).
func NewProcessor(limits Limits) (*Processor, error) {
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("new media processor: %w", err)
	}
	limits = limits.withDefaults()
	return &Processor{limits: limits, sem: make(chan struct{}, limits.MaxConcurrent)}, nil
}

// Limits returns the limits p enforces, defaults filled in.
func (p *Processor) Limits() Limits { return p.limits }

// ReadUpload reads at most the byte limit from r. A longer input fails with
// KindTooLarge "media_too_large", an empty one with "empty_upload".
func (p *Processor) ReadUpload(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, p.limits.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if int64(len(b)) > p.limits.MaxBytes {
		return nil, domain.Errorf(domain.KindTooLarge, "media_too_large", "the file is larger than %d bytes", p.limits.MaxBytes)
	}
	if len(b) == 0 {
		return nil, domain.Invalid("empty_upload", "the file is empty", map[string][]string{"file": {"is empty"}})
	}
	return b, nil
}

// Sniff returns the MIME type of b judged by its bytes alone, and whether
// it is one of the supported image types.
func Sniff(b []byte) (string, bool) {
	t := http.DetectContentType(b)
	switch t {
	case TypeJPEG, TypePNG, TypeGIF, TypeWebP:
		return t, true
	}
	return t, false
}

// Process reads an upload from r (limited to MaxBytes) and processes it
// with the renditions of profile. See Check for what it refuses.
func (p *Processor) Process(ctx context.Context, r io.Reader, profile Profile) (*Result, error) {
	b, err := p.ReadUpload(r)
	if err != nil {
		return nil, err
	}
	return p.ProcessBytes(ctx, b, profile)
}

// Check validates an upload without decoding its pixels: size, type by its
// bytes, and the pixel count declared by its header. It returns the type
// and the header's dimensions (before orientation).
func (p *Processor) Check(b []byte) (mimeType string, cfg image.Config, err error) {
	if int64(len(b)) > p.limits.MaxBytes {
		return "", cfg, domain.Errorf(domain.KindTooLarge, "media_too_large", "the file is larger than %d bytes", p.limits.MaxBytes)
	}
	if len(b) == 0 {
		return "", cfg, domain.Invalid("empty_upload", "the file is empty", map[string][]string{"file": {"is empty"}})
	}
	mimeType, ok := Sniff(b)
	if !ok {
		return "", cfg, domain.Invalid("unsupported_media_type", "only JPEG, PNG, GIF and WebP images are accepted",
			map[string][]string{"file": {"is not a JPEG, PNG, GIF or WebP image"}})
	}
	cfg, err = decodeConfig(mimeType, b)
	if err != nil {
		return "", cfg, corrupt(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", cfg, corrupt(errors.New("zero image dimensions"))
	}
	if int64(cfg.Width)*int64(cfg.Height) > p.limits.MaxPixels {
		return "", cfg, domain.Invalid("media_too_many_pixels",
			fmt.Sprintf("the image has %d×%d pixels; at most %d are accepted", cfg.Width, cfg.Height, p.limits.MaxPixels),
			map[string][]string{"file": {"has too many pixels"}})
	}
	return mimeType, cfg, nil
}

// ProcessBytes processes an upload held in b: Check, then decode, apply the
// EXIF orientation, resize and encode each rendition of profile.
func (p *Processor) ProcessBytes(ctx context.Context, b []byte, profile Profile) (*Result, error) {
	mimeType, cfg, err := p.Check(b)
	if err != nil {
		return nil, err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("process media: %w", ctx.Err())
	}
	defer func() { <-p.sem }()

	img, err := decode(mimeType, b)
	if err != nil {
		return nil, corrupt(err)
	}
	// A GIF's first frame may be smaller than its logical screen; the
	// decoder keeps it within the screen, so the pixel limit still holds.
	if mimeType != TypeGIF && (img.Bounds().Dx() != cfg.Width || img.Bounds().Dy() != cfg.Height) {
		return nil, corrupt(errors.New("decoded size differs from the header"))
	}
	o := ReadOrientation(mimeType, b)
	sum := sha256.Sum256(b)
	res := &Result{Hash: hex.EncodeToString(sum[:]), Type: mimeType, Size: int64(len(b)), Original: b,
		Width: cfg.Width, Height: cfg.Height}
	if o.swapsAxes() {
		res.Width, res.Height = cfg.Height, cfg.Width
	}
	outs, err := render(ctx, img, o, mimeType, profile)
	if err != nil {
		return nil, err
	}
	res.Renditions = outs
	return res, nil
}

func corrupt(err error) error {
	return domain.Wrap(err, domain.KindInvalid, "corrupt_image", "the image is truncated or not decodable")
}

func decodeConfig(mimeType string, b []byte) (image.Config, error) {
	r := bytes.NewReader(b)
	switch mimeType {
	case TypeJPEG:
		return jpeg.DecodeConfig(r)
	case TypePNG:
		return png.DecodeConfig(r)
	case TypeGIF:
		return gif.DecodeConfig(r)
	case TypeWebP:
		return webp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("decode config: unsupported type %s", mimeType)
}

func decode(mimeType string, b []byte) (image.Image, error) {
	r := bytes.NewReader(b)
	switch mimeType {
	case TypeJPEG:
		return jpeg.Decode(r)
	case TypePNG:
		return png.Decode(r)
	case TypeGIF:
		return gif.Decode(r) // the first frame
	case TypeWebP:
		return webp.Decode(r)
	}
	return nil, fmt.Errorf("decode: unsupported type %s", mimeType)
}

// fit returns the size of a w×h image scaled to fit maxW×maxH (0 =
// unbounded), never enlarged, at least 1×1.
func fit(w, h, maxW, maxH int) (int, int) {
	s := 1.0
	if maxW > 0 && w > maxW {
		s = min(s, float64(maxW)/float64(w))
	}
	if maxH > 0 && h > maxH {
		s = min(s, float64(maxH)/float64(h))
	}
	if s >= 1 {
		return w, h
	}
	return max(1, int(float64(w)*s+0.5)), max(1, int(float64(h)*s+0.5))
}

// render produces profile's renditions of img, which is stored with
// orientation o. Sizes are decided in display orientation; the resizing
// happens in storage orientation and the small results are then rotated,
// which is far cheaper than rotating the full image. The largest rendition
// is resampled from the full image and the others from it (each is at most
// its size in both axes), so the expensive pass runs once.
func render(ctx context.Context, img image.Image, o Orientation, srcType string, profile Profile) ([]Output, error) {
	b := img.Bounds()
	dispW, dispH := b.Dx(), b.Dy()
	if o.swapsAxes() {
		dispW, dispH = dispH, dispW
	}
	type plan struct {
		spec Spec
		w, h int // display size
	}
	var plans []plan
	seen := map[[2]int]bool{}
	for _, s := range profile {
		w, h := fit(dispW, dispH, s.MaxWidth, s.MaxHeight)
		// A width rendition of a narrow image would repeat a smaller one.
		if s.MaxHeight == 0 && seen[[2]int{w, h}] {
			continue
		}
		if s.MaxHeight == 0 {
			seen[[2]int{w, h}] = true
		}
		plans = append(plans, plan{spec: s, w: w, h: h})
	}
	// The largest rendition by area is the source of the others.
	largest := -1
	for i, pl := range plans {
		if largest < 0 || pl.w*pl.h > plans[largest].w*plans[largest].h {
			largest = i
		}
	}
	encType := TypeJPEG
	if srcType != TypeJPEG && !opaque(img) {
		encType = TypePNG
	}
	if srcType == TypePNG || srcType == TypeGIF {
		encType = TypePNG
	}
	outs := make([]Output, len(plans))
	var base *image.RGBA // largest rendition in storage orientation
	if largest >= 0 {
		base = scale(img, plans[largest].w, plans[largest].h, o)
	}
	for i, pl := range plans {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("render media: %w", err)
		}
		var m *image.RGBA
		if i == largest {
			m = base
		} else {
			m = scale(base, pl.w, pl.h, o)
		}
		data, err := encode(orient(m, o), encType)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", pl.spec.Name, err)
		}
		outs[i] = Output{Name: pl.spec.Name, Width: pl.w, Height: pl.h, Type: encType, Data: data}
	}
	return outs, nil
}

// scale resamples src to the storage-orientation size whose display size
// under o is w×h.
func scale(src image.Image, w, h int, o Orientation) *image.RGBA {
	if o.swapsAxes() {
		w, h = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sb := src.Bounds()
	if sb.Dx() == w && sb.Dy() == h {
		draw.Draw(dst, dst.Bounds(), src, sb.Min, draw.Src)
		return dst
	}
	if k := min(boxFactor(sb.Dx(), w), boxFactor(sb.Dy(), h)); k >= 2 {
		if small, ok := shrink(src, k); ok {
			src, sb = small, small.Bounds()
		}
	}
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, sb, draw.Src, nil)
	return dst
}

// opaque reports whether img has no transparent pixels.
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

func encode(m image.Image, mimeType string) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch mimeType {
	case TypePNG:
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, m)
	default:
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: JPEGQuality})
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", mimeType, err)
	}
	return buf.Bytes(), nil
}
