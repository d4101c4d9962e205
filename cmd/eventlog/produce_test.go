package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// produce stops at the first line the log refuses: the lines before it are
// stored, none after, and the message says how many were stored.
func TestProduceStopsAtFirstRefusedLine(t *testing.T) {
	dir := fixture(t)
	tooLarge := strings.Repeat("x", 2<<20) // max.message.bytes is 1 MiB
	r := runCLI(t, dir, "first\n"+tooLarge+"\nafter\n", "produce", "orders", "-p", "1")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "eventlog: after 1 records: ")
	assert.Contains(t, r.stderr, "record too large")

	d := runCLI(t, dir, "", "dump", "orders", "-p", "1", "--offset", "3")
	require.Equal(t, exitOK, d.code, d.stderr)
	assert.Contains(t, d.stdout, `value="first"`)
	assert.NotContains(t, d.stdout, `value="after"`, "a line after the refused one is not stored")
	assert.Equal(t, 1, strings.Count(d.stdout, "\n"), d.stdout)
}
