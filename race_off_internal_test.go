//go:build !race

package eventlog

// raceEnabled: see race_on_internal_test.go.
const raceEnabled = false
