package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// topics create makes a new log only in a new or empty directory: one that
// holds other files, a mistyped --dir such as a log's topic directory or a
// home directory, is refused and left as it was.
func TestTopicsCreateRefusesNonEmptyDirectory(t *testing.T) {
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644))
	dir := fixture(t)
	topicDir := filepath.Join(dir, "topics", "orders")
	for _, d := range []string{other, topicDir} {
		before := slices.Sorted(maps.Keys(dirState(t, d)))
		r := runCLI(t, d, "", "topics", "create", "x")
		assert.Equal(t, exitError, r.code, r.stderr)
		assert.Equal(t, "eventlog: "+d+" holds no eventlog log but is not empty: topics create makes a new log only in a new or empty directory\n", r.stderr)
		assert.Equal(t, before, slices.Sorted(maps.Keys(dirState(t, d))), "nothing is created")
	}
	r := runCLI(t, dir, "", "verify")
	assert.Equal(t, exitOK, r.code, r.stdout+r.stderr)
}
