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

// produce --max-message-bytes is the limit of the service's
// Options.MaxBatchBytes for topics without their own, which the log does
// not store: a line over the library's default of 1 MiB goes in with a
// higher one, and a limit the library refuses is a usage error.
func TestProduceMaxMessageBytes(t *testing.T) {
	dir := fixture(t)
	line := strings.Repeat("x", 2<<20)
	r := runCLI(t, dir, line+"\n", "produce", "orders", "-p", "1", "--max-message-bytes", "4194304")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "produced 1 records to topic orders\n", r.stdout)

	r = runCLI(t, dir, "x\n", "produce", "orders", "-p", "1", "--max-message-bytes", "10")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--max-message-bytes: ")
	assert.Contains(t, r.stderr, "MaxBatchBytes 10 is outside")

	r = runCLI(t, dir, "", "topics", "create", "--help")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "default forever", "an unset --retention inherits the Options'")
	assert.Contains(t, r.stdout, "retention.ms; default: inherited from the Options")
}
