package media

import (
	"bytes"
	"encoding/binary"
	"image"
)

// Orientation is the EXIF Orientation tag (0x0112): 1 is upright; 2..8 are
// the mirrorings and rotations of TIFF 6.0. Values outside 1..8 mean 1.
type Orientation int

// swapsAxes reports whether applying o exchanges width and height.
func (o Orientation) swapsAxes() bool { return o >= 5 && o <= 8 }

// maxIFDEntries bounds the IFD0 entries examined, so a hostile count
// cannot make the parser loop for long.
const maxIFDEntries = 512

// ReadOrientation returns the EXIF orientation of an image of type
// mimeType: from the APP1 Exif segment of a JPEG, the eXIf chunk of a PNG or
// the EXIF chunk of a WebP. It reads only data, never allocates in
// proportion to it, and returns 1 when there is none or it is malformed.
func ReadOrientation(mimeType string, b []byte) Orientation {
	var tiff []byte
	switch mimeType {
	case TypeJPEG:
		tiff = jpegExif(b)
	case TypePNG:
		tiff = pngExif(b)
	case TypeWebP:
		tiff = webpExif(b)
	}
	if tiff == nil {
		return 1
	}
	return tiffOrientation(tiff)
}

var exifHeader = []byte("Exif\x00\x00")

// jpegExif returns the TIFF data of the first APP1 Exif segment before the
// start of scan.
func jpegExif(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD8: // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, exifHeader) {
			return seg[len(exifHeader):]
		}
		i += 2 + n
	}
	return nil
}

// pngExif returns the data of the eXIf chunk before the first IDAT.
func pngExif(b []byte) []byte {
	const sig = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(b, []byte(sig)) {
		return nil
	}
	i := len(sig)
	for i+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		switch typ {
		case "eXIf":
			return b[i+8 : i+8+n]
		case "IDAT", "IEND":
			return nil
		}
		i += 12 + n
	}
	return nil
}

// webpExif returns the data of the EXIF chunk of an extended WebP.
func webpExif(b []byte) []byte {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil
	}
	i := 12
	for i+8 <= len(b) {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return nil
		}
		if string(b[i:i+4]) == "EXIF" {
			d := b[i+8 : i+8+n]
			return bytes.TrimPrefix(d, exifHeader)
		}
		i += 8 + n + n&1 // chunks are padded to even sizes
	}
	return nil
}

// tiffOrientation reads tag 0x0112 from IFD0 of TIFF data.
func tiffOrientation(t []byte) Orientation {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[0:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	if order.Uint16(t[2:]) != 42 {
		return 1
	}
	off := order.Uint32(t[4:])
	if off < 8 || uint64(off)+2 > uint64(len(t)) {
		return 1
	}
	count := int(order.Uint16(t[off:]))
	count = min(count, maxIFDEntries)
	for k := 0; k < count; k++ {
		e := int(off) + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if order.Uint16(t[e:]) != 0x0112 {
			continue
		}
		typ, n := order.Uint16(t[e+2:]), order.Uint32(t[e+4:])
		if typ != 3 || n != 1 { // SHORT, one value, stored inline
			return 1
		}
		if v := Orientation(order.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient returns src transformed for display according to o. src is not
// modified; orientation 1 returns src itself.
func orient(src *image.RGBA, o Orientation) *image.RGBA {
	if o <= 1 || o > 8 {
		return src
	}
	sb := src.Bounds()
	w, h := sb.Dx(), sb.Dy()
	dw, dh := w, h
	if o.swapsAxes() {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*dw]
		for x := 0; x < dw; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			si := sy*src.Stride + 4*sx
			copy(row[4*x:4*x+4], src.Pix[si:si+4])
		}
	}
	return dst
}
