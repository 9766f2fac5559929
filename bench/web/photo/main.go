// Command photo writes a generated photo-like JPEG (gradients, waves and
// grain) to stdout, for uploading in the web benchmarks (bench/web/run.sh).
//
//	go run ./bench/web/photo -w 4000 -h 3000 > photo.jpg
package main

import (
	"bufio"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"math"
	"os"
)

// photo is a procedural image computed per pixel.
type photo struct{ w, h int }

func (p photo) ColorModel() color.Model { return color.RGBAModel }
func (p photo) Bounds() image.Rectangle { return image.Rect(0, 0, p.w, p.h) }
func (p photo) At(x, y int) color.Color {
	fx, fy := float64(x)/float64(p.w), float64(y)/float64(p.h)
	n := uint32(x*73856093^y*19349663) * 2654435761 >> 28 // grain 0..15
	r := 128 + 100*math.Sin(fx*9+fy*3) + float64(n)
	g := 128 + 100*math.Cos(fy*7-fx*2) + float64(n)
	b := 255 * fx * fy
	return color.RGBA{uint8(min(255, r)), uint8(min(255, g)), uint8(b), 255}
}

func main() {
	w := flag.Int("w", 4000, "width in pixels")
	h := flag.Int("h", 3000, "height in pixels")
	quality := flag.Int("quality", 85, "JPEG quality")
	flag.Parse()
	if *w < 1 || *h < 1 || *w**h > 100_000_000 {
		log.Fatal("photo: -w and -h must be positive, at most 100 megapixels")
	}
	out := bufio.NewWriter(os.Stdout)
	if err := jpeg.Encode(out, photo{*w, *h}, &jpeg.Options{Quality: *quality}); err != nil {
		log.Fatalf("photo: encode: %v", err)
	}
	if err := out.Flush(); err != nil {
		log.Fatalf("photo: write: %v", err)
	}
}
