package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An error message quotes what was given on the command line as it was
// given, even where it holds ": eventlog: ", the text that once took the
// place of a repeated package prefix.
func TestErrorMessageQuotesInputAsGiven(t *testing.T) {
	dir := fixture(t)
	r := runCLI(t, dir, "", "dump", "x: eventlog: y")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "eventlog: topic not found: \"x: eventlog: y\"\n", r.stderr)

	missing := filepath.Join(t.TempDir(), "a: eventlog: b")
	r = runCLI(t, missing, "x\n", "produce", "orders")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "eventlog: "+missing+" holds no eventlog log: stat "+filepath.Join(missing, "topics")+": no such file or directory\n", r.stderr)
}

// Where the tool wraps an error of the library, the message names the
// package once, at its start.
func TestErrorMessageNamesPackageOnce(t *testing.T) {
	dir := fixture(t)
	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"produce", "orders", "-p", "1"}, "first\n" + strings.Repeat("x", 2<<20) + "\n",
			`eventlog: after 1 records: topic "orders" partition 1: record too large: `},
		{[]string{"produce", "orders", "--max-message-bytes", "10"}, "x\n",
			"eventlog: --max-message-bytes: invalid configuration: MaxBatchBytes 10 is outside"},
		{[]string{"compact", "orders"}, "",
			`eventlog: topic "orders": invalid configuration: cleanup.policy is delete, not compact`},
	} {
		r := runCLI(t, dir, c.stdin, c.args...)
		assert.NotEqual(t, exitOK, r.code, c.args)
		assert.True(t, strings.HasPrefix(r.stderr, c.want), "%v: %s", c.args, r.stderr)
		assert.Equal(t, 1, strings.Count(r.stderr, "eventlog:"), "%v: %s", c.args, r.stderr)
	}

	meta := filepath.Join(dir, "topics", "orders", "topic.meta")
	require.NoError(t, os.WriteFile(meta, []byte("garbage"), 0o644))
	r := runCLI(t, dir, "", "repair", "--yes")
	assert.Equal(t, exitCorrupt, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, `eventlog: repair cannot cut this damage, which Open refuses even with Options.Repair: topic "orders": corrupt data in `), r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, "eventlog:"), r.stderr)
}
