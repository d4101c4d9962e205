package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// produce --timestamp takes the times a Kafka producer takes, that print
// as RFC 3339: from the Unix epoch (a Kafka producer refuses a negative
// timestamp, and -1 stands for none in a batch) to the end of the year
// 9999. A time outside is a usage error, and nothing is stored.
func TestProduceTimestampRange(t *testing.T) {
	dir := fixture(t)
	before := runCLI(t, dir, "", "dump", "orders", "-p", "1")
	require.Equal(t, exitOK, before.code, before.stderr)
	for _, c := range []struct{ timestamp, stderr string }{
		{"-1", "eventlog: --timestamp -1: 1969-12-31T23:59:59.999Z is before 1970-01-01T00:00:00.000Z: a record's timestamp is not negative\n"},
		{"1969-12-31T23:59:59Z", "eventlog: --timestamp 1969-12-31T23:59:59Z: 1969-12-31T23:59:59.000Z is before 1970-01-01T00:00:00.000Z: a record's timestamp is not negative\n"},
		{"253402300800000", "eventlog: --timestamp 253402300800000: the year 10000 is after 9999, which RFC 3339 cannot write\n"},
		{"9223372036854775807", "eventlog: --timestamp 9223372036854775807: the year 292278994 is after 9999, which RFC 3339 cannot write\n"},
	} {
		r := runCLI(t, dir, "x\n", "produce", "orders", "-p", "1", "--timestamp", c.timestamp)
		assert.Equal(t, exitUsage, r.code, c.timestamp)
		assert.Empty(t, r.stdout, c.timestamp)
		assert.Equal(t, c.stderr+"Run 'eventlog produce --help' for usage.\n", r.stderr, c.timestamp)
	}
	assert.Equal(t, before, runCLI(t, dir, "", "dump", "orders", "-p", "1"), "nothing was stored")

	// The bounds themselves are taken.
	for _, ts := range []string{"0", "253402300799999", "9999-12-31T23:59:59.9999Z"} {
		r := runCLI(t, dir, ts+"\n", "produce", "orders", "-p", "1", "--timestamp", ts)
		require.Equal(t, exitOK, r.code, r.stderr)
	}
	r := runCLI(t, dir, "", "dump", "orders", "-p", "1", "--offset", "3")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `orders/1 offset=3 time=1970-01-01T00:00:00.000Z key=null value="0"
orders/1 offset=4 time=9999-12-31T23:59:59.999Z key=null value="253402300799999"
orders/1 offset=5 time=9999-12-31T23:59:59.999Z key=null value="9999-12-31T23:59:59.9999Z"
`, r.stdout)
}
