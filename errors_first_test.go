package eventlog_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The errors a new user meets first name what was wrong, and the package
// once.

// assertOnePrefix checks that err's message starts with "eventlog: " and
// holds it once.
func assertOnePrefix(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "eventlog: "), msg)
	assert.Equal(t, 1, strings.Count(msg, "eventlog:"), msg)
}

// TestOpenLockedNamesDirectory: opening a directory another Log holds
// names the directory and the lock, with one "eventlog:", on the OS's
// filesystem and on a MemFS alike.
func TestOpenLockedNamesDirectory(t *testing.T) {
	for _, fsys := range []eventlog.FS{eventlog.OSFS{}, eventlog.NewMemFS()} {
		dir := filepath.Join(t.TempDir(), "log")
		opts := &eventlog.Options{FS: fsys}
		openLog(t, dir, opts)
		_, err := eventlog.Open(dir, opts)
		require.ErrorIs(t, err, eventlog.ErrLocked)
		assertOnePrefix(t, err)
		assert.Contains(t, err.Error(), dir)
		assert.Contains(t, err.Error(), "locked by another Log")
	}
}
