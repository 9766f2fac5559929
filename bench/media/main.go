// Command media measures processing one generated image with package
// media: wall time, CPU time and peak resident memory (VmHWM). The image is
// generated procedurally (no pixel buffer) and encoded before processing,
// so the peak reflects processing, not generation.
//
//	go run ./bench/media -mp 40 -format jpeg
//	go run ./bench/media -mp 12 -format png -runs 3
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/palimpsest-cms/palimpsest/media"
)

// photo is a procedural image with gradients, waves and grain, computed per
// pixel so generating it allocates nothing.
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
	mp := flag.Float64("mp", 40, "megapixels of the generated image (4:3)")
	format := flag.String("format", "jpeg", "jpeg or png")
	runs := flag.Int("runs", 1, "times to process the image")
	flag.Parse()

	w := int(math.Sqrt(*mp * 1e6 * 4 / 3))
	h := int(*mp * 1e6 / float64(w))
	var buf bytes.Buffer
	var err error
	switch *format {
	case "png":
		err = png.Encode(&buf, photo{w, h})
	default:
		err = jpeg.Encode(&buf, photo{w, h}, &jpeg.Options{Quality: 85})
	}
	if err != nil {
		log.Fatal(err)
	}
	data := buf.Bytes()
	runtime.GC()
	fmt.Printf("image: %d×%d %s, %.1f MiB encoded; VmHWM before processing: %s\n", w, h, *format, float64(len(data))/(1<<20), status("VmHWM"))

	p, err := media.NewProcessor(media.Limits{MaxBytes: 256 << 20, MaxPixels: int64(w*h) + 1})
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < *runs; i++ {
		cpu0 := cpuTime()
		t0 := time.Now()
		res, err := p.ProcessBytes(context.Background(), data, media.LibraryProfile)
		if err != nil {
			log.Fatal(err)
		}
		wall, cpu := time.Since(t0), cpuTime()-cpu0
		var names []string
		for _, r := range res.Renditions {
			names = append(names, fmt.Sprintf("%s %d×%d %dKiB", r.Name, r.Width, r.Height, len(r.Data)>>10))
		}
		fmt.Printf("run %d: wall %v, cpu %v; renditions: %s\n", i+1, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), strings.Join(names, ", "))
	}
	fmt.Printf("peak RSS (VmHWM): %s; GOMAXPROCS %d\n", status("VmHWM"), runtime.GOMAXPROCS(0))
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// status returns a field of /proc/self/status.
func status(field string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}
