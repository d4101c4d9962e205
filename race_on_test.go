//go:build race

package eventlog_test

// raceEnabled tells tests that count allocations that the race detector
// is on: it makes sync.Pool drop items at random, so pooled codecs
// allocate anew.
const raceEnabled = true
