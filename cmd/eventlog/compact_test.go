package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compact checks every topic it is given before it compacts any: a
// mistyped name, or a topic that does not compact, leaves the others as
// they were, rather than compacting them and failing without saying so.
func TestCompactRefusesBeforeCompactingAny(t *testing.T) {
	dir := fixture(t)
	before := runCLI(t, dir, "", "dump", "users")
	require.Equal(t, exitOK, before.code, before.stderr)
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"compact", "users", "nosuch"}, "eventlog: topic not found: \"nosuch\"\n"},
		{[]string{"compact", "users", "orders"}, "eventlog: topic \"orders\": invalid configuration: cleanup.policy is delete, not compact\n"},
	} {
		r := runCLI(t, dir, "", c.args...)
		assert.Equal(t, exitError, r.code, c.args)
		assert.Empty(t, r.stdout, c.args)
		assert.Equal(t, c.stderr, r.stderr, c.args)
		assert.Equal(t, before, runCLI(t, dir, "", "dump", "users"), "%v compacted users", c.args)
	}
	// A topic named twice is compacted once.
	r := runCLI(t, dir, "", "compact", "users", "users")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "TOPIC  RUNS  RECORDS-REMOVED  BYTES-READ  BYTES-WRITTEN\nusers  1     23               4004        231\n", r.stdout)
}
