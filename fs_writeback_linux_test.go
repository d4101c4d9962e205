package eventlog

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOSFileStartsWriteback: on Linux an OSFS file starts writing a range
// out through sync_file_range(2), and says so once closed.
func TestOSFileStartsWriteback(t *testing.T) {
	f, err := OSFS{}.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 3<<20))
	require.NoError(t, err)
	w, ok := f.(writebackStarter)
	require.True(t, ok, "an OSFS file starts writeback on Linux")
	assert.NoError(t, w.StartWriteback(0, 2<<20))
	require.NoError(t, f.Close())
	assert.ErrorIs(t, w.StartWriteback(0, 1<<20), fs.ErrClosed)
}
