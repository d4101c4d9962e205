package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// On a log with nothing in it, every command's --json output is valid
// JSON whose lists are empty lists, not null, so that jq's .list[] and
// friends work on it as on a log with something in it.
func TestJSONEmptyLists(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	for _, args := range [][]string{
		{"topics"},
		{"topics", "describe"},
		{"groups"},
		{"groups", "describe"},
		{"stats"},
		{"verify"},
		{"compact"},
		// Not reset-offsets: with nothing to reset it fails (see
		// TestResetOffsetsGroupWithoutOffsets).
	} {
		name := strings.Join(args, " ")
		r := runCLI(t, dir, "", append(args, "--json")...)
		require.Equal(t, exitOK, r.code, "%s: %s", name, r.stderr)
		assert.True(t, json.Valid([]byte(r.stdout)), "%s: %s", name, r.stdout)
		assert.NotContains(t, r.stdout, "null", name)
	}
}
