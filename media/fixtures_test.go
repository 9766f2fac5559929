package media

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Tiny WebP fixtures made with cwebp (Debian package webp) from a 24×16
// image whose left half is red and right half blue:
//
//	cwebp -lossless -exact a.png -o lossless.webp   (columns 18..23 at alpha 128)
//	cwebp -q 80 o.png -o lossy.webp                 (opaque)
const (
	webpLosslessB64 = "UklGRjIAAABXRUJQVlA4TCUAAAAvF8ADEBcQAoIi/0fbfwFB0XXLhU8DmTCEkuvnllWAiP4H0j0DAA=="
	webpLossyB64    = "UklGRmQAAABXRUJQVlA4IFgAAAAQBACdASoYABAAPm0qkUWkIqGYBABABsSgCdL17sAowH4AV3/uAAG44AD+8sH/HP/+Vf/yNY/8gwhVVBeairNIjP7D//ID87VKgL/5Af4lS+WspNWgO8AA"
)

func webpFixture(t testing.TB, b64 string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	red  = color.RGBA{255, 0, 0, 255}
	blue = color.RGBA{0, 0, 255, 255}
)

// halves returns a w×h image, left half red and right half blue.
func halves(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x < w/2 {
				m.SetRGBA(x, y, red)
			} else {
				m.SetRGBA(x, y, blue)
			}
		}
	}
	return m
}

// noisy returns a w×h image with detail, so JPEG sizes are realistic.
func noisy(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	var s uint32 = 1
	for i := 0; i < len(m.Pix); i += 4 {
		s = s*1664525 + 1013904223
		x, y := (i/4)%w, (i/4)/w
		m.Pix[i] = uint8(x*255/w) ^ uint8(s>>28)
		m.Pix[i+1] = uint8(y*255/h) ^ uint8(s>>26)
		m.Pix[i+2] = uint8((x+y)>>2) ^ uint8(s>>30)
		m.Pix[i+3] = 255
	}
	return m
}

func jpegBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gifBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// secret is put into the EXIF data of test JPEGs; no rendition may contain it.
const secret = "GPS 48.8584N 2.2945E SECRET"

// withExif inserts, right after the SOI marker of a JPEG, an APP1 Exif
// segment whose big-endian IFD0 holds Orientation=o, an ImageDescription
// carrying secret, and a GPS IFD pointer to a GPSLatitudeRef entry.
func withExif(t testing.TB, jpg []byte, o uint16) []byte {
	t.Helper()
	be := binary.BigEndian
	var tiff []byte
	tiff = append(tiff, "MM"...)
	tiff = be.AppendUint16(tiff, 42)
	tiff = be.AppendUint32(tiff, 8)
	// IFD0 at 8: 3 entries → 2 + 36 + 4 = 42 bytes; data follows at 50.
	const dataOff = 8 + 2 + 3*12 + 4
	desc := []byte(secret + "\x00")
	gpsOff := dataOff + len(desc)
	tiff = be.AppendUint16(tiff, 3)
	// ImageDescription (0x010E), ASCII.
	tiff = be.AppendUint16(tiff, 0x010E)
	tiff = be.AppendUint16(tiff, 2)
	tiff = be.AppendUint32(tiff, uint32(len(desc)))
	tiff = be.AppendUint32(tiff, dataOff)
	// Orientation (0x0112), SHORT, inline.
	tiff = be.AppendUint16(tiff, 0x0112)
	tiff = be.AppendUint16(tiff, 3)
	tiff = be.AppendUint32(tiff, 1)
	tiff = be.AppendUint16(tiff, o)
	tiff = be.AppendUint16(tiff, 0)
	// GPS IFD pointer (0x8825), LONG.
	tiff = be.AppendUint16(tiff, 0x8825)
	tiff = be.AppendUint16(tiff, 4)
	tiff = be.AppendUint32(tiff, 1)
	tiff = be.AppendUint32(tiff, uint32(gpsOff))
	tiff = be.AppendUint32(tiff, 0) // no IFD1
	tiff = append(tiff, desc...)
	// GPS IFD: GPSLatitudeRef "N".
	tiff = be.AppendUint16(tiff, 1)
	tiff = be.AppendUint16(tiff, 0x0001)
	tiff = be.AppendUint16(tiff, 2)
	tiff = be.AppendUint32(tiff, 2)
	tiff = append(tiff, 'N', 0, 0, 0)
	tiff = be.AppendUint32(tiff, 0)

	seg := append([]byte("Exif\x00\x00"), tiff...)
	var out []byte
	out = append(out, jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = be.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// pngBomb returns only a PNG signature and an IHDR declaring w×h RGBA
// pixels: a decoder that trusted it would allocate w*h*4 bytes.
func pngBomb(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
	return b
}

// decodeAny decodes rendition bytes of any supported type.
func decodeAny(t testing.TB, b []byte) image.Image {
	t.Helper()
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode rendition: %v", err)
	}
	return m
}

// isRedish and isBluish classify a pixel of a red/blue test image.
func isRedish(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xB000 && g < 0x5000 && b < 0x5000
}

func isBluish(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return b > 0xB000 && r < 0x5000 && g < 0x5000
}
