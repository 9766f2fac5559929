//go:build !race

package textdiff

// timeScale stretches the time bounds of tests; 1 without the race detector.
const timeScale = 1
