package media

import (
	"image"
)

// boxFactor returns the integer box-filter factor applied before the
// Catmull-Rom pass when scaling a w-pixel-wide image to tw pixels: large
// enough to do most of the reduction cheaply, small enough that the
// Catmull-Rom pass still reduces by at least 1.5× and so does the
// anti-aliasing (the approach of libvips' shrink + reduce).
func boxFactor(w, tw int) int {
	if tw <= 0 {
		return 1
	}
	return max(1, int(float64(w)/float64(tw)/1.5))
}

// shrink averages k×k blocks of src into a new RGBA image (partial blocks
// at the right and bottom edges are averaged over the pixels present). It
// has fast paths for the types the decoders return for photos (YCbCr, RGBA,
// NRGBA, Gray) and returns nil, false for other types or k < 2.
func shrink(src image.Image, k int) (*image.RGBA, bool) {
	if k < 2 {
		return nil, false
	}
	b := src.Bounds()
	dw, dh := (b.Dx()+k-1)/k, (b.Dy()+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	switch s := src.(type) {
	case *image.YCbCr:
		shrinkYCbCr(dst, s, k)
	case *image.RGBA:
		shrinkPix(dst, s.Pix, s.Stride, b, k, false)
	case *image.NRGBA:
		shrinkPix(dst, s.Pix, s.Stride, b, k, true)
	case *image.Gray:
		shrinkGray(dst, s, k)
	default:
		return nil, false
	}
	return dst, true
}

func shrinkYCbCr(dst *image.RGBA, s *image.YCbCr, k int) {
	b := s.Bounds()
	for dy := 0; dy < dst.Rect.Dy(); dy++ {
		y0 := b.Min.Y + dy*k
		y1 := min(y0+k, b.Max.Y)
		row := dst.Pix[dy*dst.Stride:]
		for dx := 0; dx < dst.Rect.Dx(); dx++ {
			x0 := b.Min.X + dx*k
			x1 := min(x0+k, b.Max.X)
			var sy, scb, scr, n int
			for y := y0; y < y1; y++ {
				yi := s.YOffset(x0, y)
				for x := x0; x < x1; x++ {
					ci := s.COffset(x, y)
					sy += int(s.Y[yi])
					scb += int(s.Cb[ci])
					scr += int(s.Cr[ci])
					yi++
					n++
				}
			}
			r, g, bl := ycbcrToRGB(sy/n, scb/n, scr/n)
			p := row[4*dx : 4*dx+4 : 4*dx+4]
			p[0], p[1], p[2], p[3] = r, g, bl, 0xff
		}
	}
}

// ycbcrToRGB is the JFIF conversion of image/color.YCbCrToRGB, inlined.
func ycbcrToRGB(y, cb, cr int) (uint8, uint8, uint8) {
	yy := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := yy + 91881*cr1
	g := yy - 22554*cb1 - 46802*cr1
	b := yy + 116130*cb1
	return clamp16(r), clamp16(g), clamp16(b)
}

func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	if v < 0 {
		return 0
	}
	return 0xff
}

// shrinkPix averages 4-byte RGBA or NRGBA pixels; NRGBA is premultiplied
// while averaging so transparent pixels do not bleed their colour.
func shrinkPix(dst *image.RGBA, pix []byte, stride int, b image.Rectangle, k int, nonPremul bool) {
	w, h := b.Dx(), b.Dy()
	for dy := 0; dy < dst.Rect.Dy(); dy++ {
		y0 := dy * k
		y1 := min(y0+k, h)
		row := dst.Pix[dy*dst.Stride:]
		for dx := 0; dx < dst.Rect.Dx(); dx++ {
			x0 := dx * k
			x1 := min(x0+k, w)
			var sr, sg, sb, sa, n int
			for y := y0; y < y1; y++ {
				i := y*stride + 4*x0
				for x := x0; x < x1; x++ {
					r, g, bl, a := int(pix[i]), int(pix[i+1]), int(pix[i+2]), int(pix[i+3])
					if nonPremul {
						r, g, bl = r*a/255, g*a/255, bl*a/255
					}
					sr += r
					sg += g
					sb += bl
					sa += a
					i += 4
					n++
				}
			}
			p := row[4*dx : 4*dx+4 : 4*dx+4]
			p[0], p[1], p[2], p[3] = uint8(sr/n), uint8(sg/n), uint8(sb/n), uint8(sa/n)
		}
	}
}

func shrinkGray(dst *image.RGBA, s *image.Gray, k int) {
	w, h := s.Rect.Dx(), s.Rect.Dy()
	for dy := 0; dy < dst.Rect.Dy(); dy++ {
		y0 := dy * k
		y1 := min(y0+k, h)
		row := dst.Pix[dy*dst.Stride:]
		for dx := 0; dx < dst.Rect.Dx(); dx++ {
			x0 := dx * k
			x1 := min(x0+k, w)
			var sum, n int
			for y := y0; y < y1; y++ {
				i := y*s.Stride + x0
				for x := x0; x < x1; x++ {
					sum += int(s.Pix[i])
					i++
					n++
				}
			}
			v := uint8(sum / n)
			p := row[4*dx : 4*dx+4 : 4*dx+4]
			p[0], p[1], p[2], p[3] = v, v, v, 0xff
		}
	}
}
