//go:build race

package eventlog

// raceEnabled tells white-box tests that count allocations that the race
// detector is on: it makes sync.Pool drop items at random, and TotalAlloc
// counts a large allocation holding pointers (a []Record) twice.
const raceEnabled = true
