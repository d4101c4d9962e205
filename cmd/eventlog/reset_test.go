package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reset-offsets without --topic resets what the group committed: for a
// group that committed nothing (a mistyped name, say) there is nothing to
// reset, which is an error, not a success that did nothing. With --topic
// a group without offsets gets them.
func TestResetOffsetsGroupWithoutOffsets(t *testing.T) {
	dir := fixture(t)
	for _, args := range [][]string{
		{"reset-offsets", "-g", "bililng", "--to-earliest"},
		{"reset-offsets", "-g", "bililng", "--to-earliest", "--execute"},
		{"reset-offsets", "-g", "bililng", "--to-earliest", "--json"},
	} {
		r := runCLI(t, dir, "", args...)
		assert.Equal(t, exitError, r.code, args)
		assert.Empty(t, r.stdout, args)
		assert.Equal(t, "eventlog: group \"bililng\" has no committed offsets to reset: name the topics or partitions to reset with --topic\n", r.stderr, args)
	}
	r := runCLI(t, dir, "", "groups")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "bililng")

	r = runCLI(t, dir, "", "reset-offsets", "-g", "fresh", "-t", "orders:1", "--to-earliest", "--execute")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "GROUP  TOPIC   PARTITION  NEW-OFFSET  HIGH-WATERMARK  LAG\nfresh  orders  1          0           3               3\n", r.stdout)
}
