package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A repair declined at its prompt changes nothing in the directory, not
// even by creating the lock file that a copied or restored log lacks.
func TestRepairDeclinedWithoutLockFile(t *testing.T) {
	dir := fixture(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "LOCK")))
	logs := segments(t, dir, "orders", 1)
	appendTo(t, logs[len(logs)-1], bytes.Repeat([]byte{0x5a}, 100)) // something to repair
	before := dirState(t, dir)
	r := runCLI(t, dir, "n\n", "repair")
	assert.Equal(t, exitError, r.code, r.stderr)
	assert.Contains(t, r.stderr, "repair not confirmed: nothing changed")
	assert.Equal(t, before, dirState(t, dir), "a declined repair changes nothing")
	assert.NoFileExists(t, filepath.Join(dir, "LOCK"))
}

// Damage that Options.Repair does not cut (a topic's topic.meta) makes
// repair fail with exit code 3, corruption left, saying that repair cannot
// cut it; not with exit code 1 and the advice to run repair.
func TestRepairDamageItCannotCut(t *testing.T) {
	dir := fixture(t)
	meta := filepath.Join(dir, "topics", "orders", "topic.meta")
	require.NoError(t, os.WriteFile(meta, []byte("garbage"), 0o644))
	r := runCLI(t, dir, "", "repair", "--yes")
	assert.Equal(t, exitCorrupt, r.code, r.stderr)
	assert.Contains(t, r.stderr, meta)
	assert.Contains(t, r.stderr, "repair cannot cut this damage")
	assert.NotContains(t, r.stderr, "'eventlog repair' cuts what Open refuses")
}
