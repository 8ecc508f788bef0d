//go:build !linux

// Command compare needs Linux: it reads /proc and pins with taskset. See
// main.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "benchmarks/compare runs on Linux only (it reads /proc/PID/stat and /proc/PID/status)")
	os.Exit(1)
}
