//go:build race

package textdiff

// timeScale stretches the time bounds of tests under the race detector,
// which slows this code down about tenfold.
const timeScale = 10
