package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"runtime"
	"strings"
	"testing"

	"github.com/palimpsest-cms/palimpsest/domain"
)

func newProcessor(t testing.TB, l Limits) *Processor {
	t.Helper()
	p, err := NewProcessor(l)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErr(t *testing.T, err error, kind domain.Kind, code string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != kind || de.Code != code {
		t.Fatalf("err = %v, want %s/%s", err, kind, code)
	}
}

func TestProcessFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		data        []byte
		wantType    string
		wantW       int
		wantH       int
		wantEncType string
		renditions  []string
	}{
		{"jpeg", jpegBytes(t, halves(1400, 700)), TypeJPEG, 1400, 700, TypeJPEG,
			[]string{RenditionThumb, RenditionW320, RenditionW640, RenditionW1280}},
		{"png", pngBytes(t, halves(700, 350)), TypePNG, 700, 350, TypePNG,
			[]string{RenditionThumb, RenditionW320, RenditionW640, RenditionW1280}},
		{"gif", gifBytes(t, halves(100, 60)), TypeGIF, 100, 60, TypePNG,
			[]string{RenditionThumb, RenditionW320}},
		{"webp lossless with alpha", webpFixture(t, webpLosslessB64), TypeWebP, 24, 16, TypePNG,
			[]string{RenditionThumb, RenditionW320}},
		{"webp lossy", webpFixture(t, webpLossyB64), TypeWebP, 24, 16, TypeJPEG,
			[]string{RenditionThumb, RenditionW320}},
	}
	p := newProcessor(t, Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.ProcessBytes(context.Background(), tt.data, LibraryProfile)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tt.data)
			if res.Hash != hex.EncodeToString(sum[:]) || res.Type != tt.wantType || res.Size != int64(len(tt.data)) ||
				res.Width != tt.wantW || res.Height != tt.wantH {
				t.Fatalf("result = %s %s %d %d×%d", res.Hash, res.Type, res.Size, res.Width, res.Height)
			}
			var names []string
			for _, r := range res.Renditions {
				names = append(names, r.Name)
				if r.Type != tt.wantEncType {
					t.Errorf("%s type = %s, want %s", r.Name, r.Type, tt.wantEncType)
				}
				m := decodeAny(t, r.Data)
				if m.Bounds().Dx() != r.Width || m.Bounds().Dy() != r.Height {
					t.Errorf("%s is %v, reported %d×%d", r.Name, m.Bounds(), r.Width, r.Height)
				}
				if r.Width > tt.wantW || r.Height > tt.wantH {
					t.Errorf("%s upscaled to %d×%d", r.Name, r.Width, r.Height)
				}
				if !isRedish(m.At(0, r.Height/2)) {
					t.Errorf("%s left edge is %v, want red", r.Name, m.At(0, r.Height/2))
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.renditions, ",") {
				t.Fatalf("renditions = %v, want %v", names, tt.renditions)
			}
		})
	}
}

func TestRenditionSizes(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Limits{})
	res, err := p.ProcessBytes(context.Background(), jpegBytes(t, halves(1300, 1950)), LibraryProfile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{RenditionThumb: {320, 480}, RenditionW320: {320, 480}, RenditionW640: {640, 960}, RenditionW1280: {1280, 1920}}
	for _, r := range res.Renditions {
		if w := want[r.Name]; w != [2]int{r.Width, r.Height} {
			t.Errorf("%s = %d×%d, want %v", r.Name, r.Width, r.Height, w)
		}
	}
	if len(res.Renditions) != len(want) {
		t.Fatalf("got %d renditions", len(res.Renditions))
	}
	avatar, err := p.ProcessBytes(context.Background(), jpegBytes(t, halves(800, 600)), AvatarProfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range avatar.Renditions {
		if r.Width > 480 || r.Height > 480 {
			t.Errorf("avatar rendition %s is %d×%d", r.Name, r.Width, r.Height)
		}
	}
}

func TestExifOrientationAppliedAndStripped(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Limits{})
	src := jpegBytes(t, halves(400, 200)) // red left, blue right
	tests := []struct {
		o              uint16
		w, h           int
		firstRed       bool // first pixel (top or left) red
		checkVertical  bool // compare top vs bottom rather than left vs right
		wantOrientRead Orientation
	}{
		{1, 400, 200, true, false, 1},
		{2, 400, 200, false, false, 2}, // mirrored: blue left
		{3, 400, 200, false, false, 3},
		{6, 200, 400, true, true, 6}, // rotated CW: the left side comes to the top
		{8, 200, 400, false, true, 8},
	}
	for _, tt := range tests {
		data := withExif(t, src, tt.o)
		if got := ReadOrientation(TypeJPEG, data); got != tt.wantOrientRead {
			t.Fatalf("ReadOrientation = %d, want %d", got, tt.wantOrientRead)
		}
		res, err := p.ProcessBytes(context.Background(), data, LibraryProfile)
		if err != nil {
			t.Fatal(err)
		}
		if res.Width != tt.w || res.Height != tt.h {
			t.Fatalf("orientation %d: size %d×%d, want %d×%d", tt.o, res.Width, res.Height, tt.w, tt.h)
		}
		if !bytes.Contains(res.Original, []byte(secret)) {
			t.Fatal("the original lost its bytes")
		}
		for _, r := range res.Renditions {
			if bytes.Contains(r.Data, []byte(secret)) || bytes.Contains(r.Data, []byte("Exif")) {
				t.Fatalf("orientation %d: rendition %s leaks metadata", tt.o, r.Name)
			}
			m := decodeAny(t, r.Data)
			if m.Bounds().Dx() != r.Width || m.Bounds().Dy() != r.Height || (r.Width > r.Height) != (tt.w > tt.h) {
				t.Fatalf("orientation %d: %s is %v", tt.o, r.Name, m.Bounds())
			}
			first, last := m.At(1, r.Height/2), m.At(r.Width-2, r.Height/2)
			if tt.checkVertical {
				first, last = m.At(r.Width/2, 1), m.At(r.Width/2, r.Height-2)
			}
			if tt.firstRed != isRedish(first) || tt.firstRed != isBluish(last) {
				t.Fatalf("orientation %d: %s first=%v last=%v", tt.o, r.Name, first, last)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	jpg := jpegBytes(t, noisy(64, 64))
	tests := []struct {
		name   string
		limits Limits
		data   []byte
		kind   domain.Kind
		code   string
	}{
		{"empty", Limits{}, nil, domain.KindInvalid, "empty_upload"},
		{"too large", Limits{MaxBytes: 100}, jpg, domain.KindTooLarge, "media_too_large"},
		{"png header bomb 30000x30000", Limits{}, pngBomb(30000, 30000), domain.KindInvalid, "media_too_many_pixels"},
		{"over pixel limit", Limits{MaxPixels: 64*64 - 1}, jpg, domain.KindInvalid, "media_too_many_pixels"},
		{"truncated jpeg", Limits{}, jpg[:len(jpg)/2], domain.KindInvalid, "corrupt_image"},
		{"html named png", Limits{}, []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), domain.KindInvalid, "unsupported_media_type"},
		{"svg", Limits{}, []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), domain.KindInvalid, "unsupported_media_type"},
		{"png magic then html", Limits{}, append([]byte("\x89PNG\r\n\x1a\n"), "<html><script>alert(1)</script>"...), domain.KindInvalid, "corrupt_image"},
		{"gif magic then script", Limits{}, []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00<script>alert(1)</script>"), domain.KindInvalid, "corrupt_image"},
		{"pdf", Limits{}, []byte("%PDF-1.4\n%...."), domain.KindInvalid, "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProcessor(t, tt.limits)
			_, err := p.Process(context.Background(), bytes.NewReader(tt.data), LibraryProfile)
			wantErr(t, err, tt.kind, tt.code)
		})
	}
}

// TestPixelBombAllocatesNothing checks the header bomb is refused before
// any pixel buffer exists (30000×30000 RGBA would be 3.6 GB).
func TestPixelBombAllocatesNothing(t *testing.T) {
	p := newProcessor(t, Limits{})
	bomb := pngBomb(30000, 30000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		if _, err := p.ProcessBytes(context.Background(), bomb, LibraryProfile); domain.CodeOf(err) != "media_too_many_pixels" {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("refusing 10 bombs allocated %d bytes", d)
	}
}

func TestReadOrientationBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    []byte
	}{
		{"nothing", nil},
		{"soi only", []byte{0xFF, 0xD8}},
		{"bad length", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E'}},
		{"zero length", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x00}},
		{"exif short", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0}},
		{"bad tiff offset", append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10}, "Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"...)},
	}
	for _, tt := range tests {
		if o := ReadOrientation(TypeJPEG, tt.b); o != 1 {
			t.Errorf("%s: orientation %d, want 1", tt.name, o)
		}
	}
	for _, typ := range []string{TypePNG, TypeWebP, TypeGIF} {
		if o := ReadOrientation(typ, []byte("RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\x7f")); o != 1 {
			t.Errorf("%s: orientation %d", typ, o)
		}
	}
}

func TestOrientTransforms(t *testing.T) {
	t.Parallel()
	// A 3×2 image with distinct pixels; check where pixel (0,0) lands.
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(i)
	}
	corner := src.Pix[0:4]
	tests := []struct {
		o      Orientation
		w, h   int
		cx, cy int // where the source's top-left lands
	}{
		{1, 3, 2, 0, 0}, {2, 3, 2, 2, 0}, {3, 3, 2, 2, 1}, {4, 3, 2, 0, 1},
		{5, 2, 3, 0, 0}, {6, 2, 3, 1, 0}, {7, 2, 3, 1, 2}, {8, 2, 3, 0, 2},
	}
	for _, tt := range tests {
		d := orient(src, tt.o)
		if d.Bounds().Dx() != tt.w || d.Bounds().Dy() != tt.h {
			t.Fatalf("orientation %d: bounds %v", tt.o, d.Bounds())
		}
		i := d.PixOffset(tt.cx, tt.cy)
		if !bytes.Equal(d.Pix[i:i+4], corner) {
			t.Errorf("orientation %d: top-left landed elsewhere", tt.o)
		}
	}
}

// tiffOrientationLE returns little-endian TIFF data whose IFD0 holds only
// Orientation=o.
func tiffOrientationLE(o uint16) []byte {
	le := binary.LittleEndian
	t := []byte("II")
	t = le.AppendUint16(t, 42)
	t = le.AppendUint32(t, 8)
	t = le.AppendUint16(t, 1)
	t = le.AppendUint16(t, 0x0112)
	t = le.AppendUint16(t, 3)
	t = le.AppendUint32(t, 1)
	t = le.AppendUint16(t, o)
	t = le.AppendUint16(t, 0)
	return le.AppendUint32(t, 0)
}

func TestReadOrientationPNGAndWebP(t *testing.T) {
	t.Parallel()
	tiff := tiffOrientationLE(6)
	// PNG: the eXIf chunk goes before IDAT.
	p := pngBytes(t, halves(40, 20))
	idat := bytes.Index(p, []byte("IDAT")) - 4
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(tiff)))
	chunk = append(chunk, "eXIf"...)
	chunk = append(chunk, tiff...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	withChunk := append(append(append([]byte{}, p[:idat]...), chunk...), p[idat:]...)
	if o := ReadOrientation(TypePNG, withChunk); o != 6 {
		t.Fatalf("png orientation = %d", o)
	}
	res, err := newProcessor(t, Limits{}).ProcessBytes(context.Background(), withChunk, LibraryProfile)
	if err != nil || res.Width != 20 || res.Height != 40 {
		t.Fatalf("png with eXIf: %v, %d×%d", err, res.Width, res.Height)
	}
	// WebP: an EXIF chunk (odd size, padded) after the image chunk.
	w := webpFixture(t, webpLossyB64)
	exif := append([]byte("Exif\x00\x00"), tiff...)
	exif = append(exif, 0) // odd length
	c := append([]byte("EXIF"), binary.LittleEndian.AppendUint32(nil, uint32(len(exif)))...)
	c = append(c, exif...)
	c = append(c, 0) // padding
	ext := append(append([]byte{}, w...), c...)
	binary.LittleEndian.PutUint32(ext[4:], uint32(len(ext)-8))
	if o := ReadOrientation(TypeWebP, ext); o != 6 {
		t.Fatalf("webp orientation = %d", o)
	}
}
