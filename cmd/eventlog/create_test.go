package main

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// topics create refused for a bad argument creates no log either: the
// directory stays as it was, missing or empty.
func TestTopicsCreateRefusedLeavesNoLog(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "new")
	r := runCLI(t, missing, "", "topics", "create", "t", "-p", "-1")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Partitions -1 is outside")
	_, err := os.Stat(missing)
	assert.ErrorIs(t, err, fs.ErrNotExist, "no log is created for a refused topic")

	empty := t.TempDir()
	r = runCLI(t, empty, "", "topics", "create", "a/b")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	entries, err := os.ReadDir(empty)
	require.NoError(t, err)
	assert.Empty(t, entries, "no log is created for a refused topic")

	r = runCLI(t, empty, "", "topics", "create", "t")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.DirExists(t, filepath.Join(empty, "topics"), "an empty directory takes a new log")
}

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
