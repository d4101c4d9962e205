// Package examples_test checks what the examples have in common.
package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pathMax is the longest path Linux takes (PATH_MAX, 4096, less the NUL).
const pathMax = 4095

// Each example keeps its log in a temporary directory that it removes
// when it ends, failing or not. Here each fails after making its
// directory: $TMPDIR is so long that the directory's name just fits in a
// path, but no file in it does.
func TestExamplesRemoveTheirTempDirOnFailure(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("relies on Linux's PATH_MAX")
	}
	names := []string{"quickstart", "eventsourcing", "aggregate", "exactlyonce"}
	bin := t.TempDir()
	build := []string{"build", "-o", bin + "/"}
	for _, name := range names {
		build = append(build, "./"+name)
	}
	out, err := exec.Command("go", build...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			exe := filepath.Join(bin, name)
			// MkdirTemp adds a random number of up to 10 digits.
			tmp := longDir(t, pathMax-len("/eventlog-"+name+"-")-10)
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the example fails: %s", out)
			require.Contains(t, string(out), "file name too long")
			entries, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, entries, "the temporary directory is removed")
		})
	}
}

// longDir makes a directory whose path is n bytes long.
func longDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for len(dir) < n {
		seg := min(200, n-len(dir)-1)
		dir += "/" + strings.Repeat("d", max(seg, 1))
	}
	require.Len(t, dir, n)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}
