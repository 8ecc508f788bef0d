//go:build race

package sockjs_test

// raceEnabled: the race detector is on, and makes byte-heavy tests some
// ten times slower; the unicode scenario then samples (see unicodeWindows).
const raceEnabled = true
