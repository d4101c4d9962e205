package main

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// checkLogDir says that a directory holds no log only when the directory
// or its topics directory is missing or not a directory; an error that
// keeps it from looking, such as a permission denied, is reported as it
// is, with or without create. (The tests run as root, for whom no
// permission is denied, hence the MemFS.)
func TestCheckLogDirReportsErrorsAsTheyAre(t *testing.T) {
	m := eventlog.NewMemFS()
	require.NoError(t, m.MkdirAll("/log/topics", 0o755))
	require.NoError(t, m.MkdirAll("/empty", 0o755))
	require.NoError(t, m.MkdirAll("/other", 0o755))
	require.NoError(t, m.WriteFile("/other/notes.txt", []byte("mine"), 0o644))
	require.NoError(t, m.MkdirAll("/flat", 0o755))
	require.NoError(t, m.WriteFile("/flat/topics", []byte("not a directory"), 0o644))
	require.NoError(t, m.WriteFile("/file", []byte("not a directory"), 0o644))

	for _, c := range []struct {
		dir    string
		create bool
		want   string // "" for no error
	}{
		{"/log", false, ""},
		{"/log", true, ""},
		{"/empty", true, ""},
		{"/missing", true, ""},
		{"/empty", false, "/empty holds no eventlog log: stat /empty/topics: file does not exist"},
		{"/missing", false, "/missing holds no eventlog log: stat /missing/topics: file does not exist"},
		{"/file", false, "/file holds no eventlog log: stat /file/topics: not a directory"},
		{"/flat", false, "/flat holds no eventlog log: /flat/topics is not a directory"},
		{"/flat", true, "/flat holds no eventlog log but is not empty: topics create makes a new log only in a new or empty directory"},
		{"/other", true, "/other holds no eventlog log but is not empty: topics create makes a new log only in a new or empty directory"},
	} {
		err := checkLogDir(m, c.dir, c.create)
		if c.want == "" {
			assert.NoError(t, err, "%s create=%v", c.dir, c.create)
		} else {
			assert.EqualError(t, err, c.want, "%s create=%v", c.dir, c.create)
		}
	}

	m.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpStat || op == eventlog.OpReadDir {
			return fs.ErrPermission
		}
		return nil
	})
	for _, create := range []bool{false, true} {
		err := checkLogDir(m, "/log", create)
		assert.ErrorIs(t, err, fs.ErrPermission, "create=%v", create)
		assert.EqualError(t, err, "stat /log/topics: permission denied", "create=%v", create)
	}
}
