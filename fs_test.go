package eventlog

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testFS runs fn against OSFS in a temporary directory and against a MemFS,
// so that both implement the same behaviour.
func testFS(t *testing.T, fn func(t *testing.T, fsys FS, dir string)) {
	t.Run("OSFS", func(t *testing.T) { fn(t, OSFS{}, t.TempDir()) })
	t.Run("MemFS", func(t *testing.T) {
		m := NewMemFS()
		require.NoError(t, m.MkdirAll("/data", 0o755))
		fn(t, m, "/data")
	})
}

func TestFSFiles(t *testing.T) {
	testFS(t, func(t *testing.T, fsys FS, dir string) {
		name := filepath.Join(dir, "a.log")
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		require.NoError(t, err)
		assert.Equal(t, name, f.Name())

		n, err := f.Write([]byte("hello "))
		require.NoError(t, err)
		assert.Equal(t, 6, n)
		_, err = f.Write([]byte("world"))
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("J"), 0)
		require.NoError(t, err)
		require.NoError(t, f.Sync())

		buf := make([]byte, 5)
		n, err = f.ReadAt(buf, 6)
		require.NoError(t, err)
		assert.Equal(t, "world", string(buf[:n]))
		n, err = f.ReadAt(buf, 9)
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, "ld", string(buf[:n]))

		fi, err := f.Stat()
		require.NoError(t, err)
		assert.Equal(t, int64(11), fi.Size())
		assert.Equal(t, "a.log", fi.Name())
		assert.False(t, fi.IsDir())

		require.NoError(t, f.Truncate(5))
		all, err := io.ReadAll(io.NewSectionReader(f, 0, 100))
		require.NoError(t, err)
		assert.Equal(t, "Jello", string(all))
		require.NoError(t, f.Truncate(7)) // grows with zeros
		all, err = io.ReadAll(io.NewSectionReader(f, 0, 100))
		require.NoError(t, err)
		assert.Equal(t, "Jello\x00\x00", string(all))
		require.NoError(t, f.Close())
		assert.ErrorIs(t, f.Sync(), fs.ErrClosed)

		_, err = fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		assert.ErrorIs(t, err, fs.ErrExist)
		_, err = fsys.OpenFile(filepath.Join(dir, "missing"), os.O_RDONLY, 0)
		assert.ErrorIs(t, err, fs.ErrNotExist)

		// O_APPEND writes at the end; Read reads from the handle's position;
		// O_TRUNC empties.
		f, err = fsys.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.Write([]byte("!"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		f, err = fsys.OpenFile(name, os.O_RDONLY, 0)
		require.NoError(t, err)
		n, err = f.Read(buf[:2])
		require.NoError(t, err)
		assert.Equal(t, "Je", string(buf[:n]))
		all, err = io.ReadAll(f)
		require.NoError(t, err)
		assert.Equal(t, "llo\x00\x00!", string(all))
		n, err = f.Read(buf)
		assert.Equal(t, 0, n)
		assert.ErrorIs(t, err, io.EOF)
		require.NoError(t, f.Close())
		f, err = fsys.OpenFile(name, os.O_RDWR|os.O_TRUNC, 0)
		require.NoError(t, err)
		fi, err = f.Stat()
		require.NoError(t, err)
		assert.Zero(t, fi.Size())
		require.NoError(t, f.Close())

		// Writes to a read-only handle fail.
		f, err = fsys.OpenFile(name, os.O_RDONLY, 0)
		require.NoError(t, err)
		_, err = f.Write([]byte("x"))
		assert.Error(t, err)
		require.NoError(t, f.Close())
	})
}

func TestFSDirectories(t *testing.T) {
	testFS(t, func(t *testing.T, fsys FS, dir string) {
		for _, name := range []string{"c", "a", "b"} {
			f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE, 0o644)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
		require.NoError(t, fsys.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755))
		require.NoError(t, fsys.SyncDir(dir))
		names, err := fsys.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c", "sub"}, names)

		fi, err := fsys.Stat(filepath.Join(dir, "sub"))
		require.NoError(t, err)
		assert.True(t, fi.IsDir())
		assert.Equal(t, "sub", fi.Name())
		_, err = fsys.Stat(filepath.Join(dir, "nope"))
		assert.ErrorIs(t, err, fs.ErrNotExist)

		// Rename replaces the target.
		require.NoError(t, fsys.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")))
		names, err = fsys.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "c", "sub"}, names)
		assert.ErrorIs(t, fsys.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "x")), fs.ErrNotExist)

		assert.Error(t, fsys.Remove(filepath.Join(dir, "sub")), "not empty")
		assert.ErrorIs(t, fsys.Remove(filepath.Join(dir, "nope")), fs.ErrNotExist)
		require.NoError(t, fsys.Remove(filepath.Join(dir, "c")))
		require.NoError(t, fsys.RemoveAll(filepath.Join(dir, "sub")))
		require.NoError(t, fsys.RemoveAll(filepath.Join(dir, "sub")))
		assert.Error(t, fsys.MkdirAll(filepath.Join(dir, "b", "x"), 0o755), "b is a file")
		names, err = fsys.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, names)

		assert.Error(t, fsys.SyncDir(filepath.Join(dir, "nope")))
	})
}

func TestFSMmap(t *testing.T) {
	testFS(t, func(t *testing.T, fsys FS, dir string) {
		f, err := fsys.OpenFile(filepath.Join(dir, "m"), os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
		defer f.Close()
		mm, ok := f.(mmapper)
		if !ok {
			t.Skipf("%T has no Mmap on %s", f, runtime.GOOS)
		}

		data, unmap, err := mm.Mmap(0)
		require.NoError(t, err)
		assert.Empty(t, data)
		require.NoError(t, unmap())

		_, err = f.Write([]byte("hello, mmap"))
		require.NoError(t, err)
		data, unmap, err = mm.Mmap(11)
		require.NoError(t, err)
		assert.Equal(t, "hello, mmap", string(data))
		require.NoError(t, unmap())
		require.NoError(t, unmap(), "unmap is idempotent")

		data, unmap, err = mm.Mmap(5)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(data))
		require.NoError(t, unmap())
	})
}

// TestOSFSMmapBeyondEOF maps more than the file holds, as the library does to
// avoid a remap per append, and reads bytes appended after the mapping.
func TestOSFSMmapBeyondEOF(t *testing.T) {
	f, err := OSFS{}.OpenFile(filepath.Join(t.TempDir(), "grow"), os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	defer f.Close()
	mm, ok := f.(mmapper)
	if !ok {
		t.Skipf("no Mmap on %s", runtime.GOOS)
	}
	_, err = f.Write([]byte("first"))
	require.NoError(t, err)
	page := os.Getpagesize()

	data, unmap, err := mm.Mmap(3 * page)
	if runtime.GOOS == "windows" {
		require.ErrorIs(t, err, errMmapBeyondEOF)
		return
	}
	require.NoError(t, err)
	defer func() { assert.NoError(t, unmap()) }()
	require.Len(t, data, 3*page)
	assert.Equal(t, "first", string(data[:5]))

	// MAP_SHARED shows later writes, including past the old end of file.
	_, err = f.WriteAt([]byte("second"), int64(2*page))
	require.NoError(t, err)
	assert.Equal(t, "second", string(data[2*page:2*page+6]))
	assert.Equal(t, make([]byte, 10), data[page:page+10], "the hole reads as zeros")
}

func TestOSFSLockInProcess(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "LOCK")

	l1, err := OSFS{}.Lock(name)
	require.NoError(t, err)
	_, err = OSFS{}.Lock(name)
	require.ErrorIs(t, err, ErrLocked)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, name, pe.Path)

	// The same file through a relative name is the same lock.
	t.Chdir(dir)
	_, err = OSFS{}.Lock("LOCK")
	require.ErrorIs(t, err, ErrLocked)

	require.NoError(t, l1.Close())
	assert.NoError(t, l1.Close(), "Close is idempotent")

	l2, err := OSFS{}.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l2.Close())
}

// TestOSFileLockPerOpenFile checks, below the in-process registry, that the
// OS lock itself conflicts between two opens of one file in one process.
func TestOSFileLockPerOpenFile(t *testing.T) {
	switch runtime.GOOS {
	case "aix", "js", "wasip1", "plan9":
		t.Skipf("the OS lock on %s is per process or absent", runtime.GOOS)
	}
	name := filepath.Join(t.TempDir(), "LOCK")
	f1, err := os.Create(name)
	require.NoError(t, err)
	defer f1.Close()
	f2, err := os.Open(name)
	require.NoError(t, err)
	defer f2.Close()

	require.NoError(t, lockFile(f1))
	require.ErrorIs(t, lockFile(f2), ErrLocked)
	require.NoError(t, unlockFile(f1))
	require.NoError(t, lockFile(f2))
	require.ErrorIs(t, lockFile(f1), ErrLocked)
	require.NoError(t, unlockFile(f2))
}

const (
	lockChildEnv      = "EVENTLOG_TEST_LOCK_CHILD"
	lockChildLocked   = 3 // exit status: the lock was held by someone else
	lockChildFailed   = 4 // exit status: Lock failed otherwise
	lockChildAcquired = 0
)

// TestOSFSLockChild is the child process of TestOSFSLockCrossProcess: it tries
// the lock named by the environment and reports through its exit status.
func TestOSFSLockChild(t *testing.T) {
	name := os.Getenv(lockChildEnv)
	if name == "" {
		t.Skip("run by TestOSFSLockCrossProcess")
	}
	l, err := OSFS{}.Lock(name)
	switch {
	case errors.Is(err, ErrLocked):
		os.Exit(lockChildLocked)
	case err != nil:
		os.Exit(lockChildFailed)
	}
	_ = l.Close()
	os.Exit(lockChildAcquired)
}

func TestOSFSLockCrossProcess(t *testing.T) {
	switch runtime.GOOS {
	case "js", "wasip1", "ios", "android", "plan9":
		t.Skipf("cannot run a child process or lock files on %s", runtime.GOOS)
	}
	name := filepath.Join(t.TempDir(), "LOCK")
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOSFSLockChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+name)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		require.NoError(t, err, "child output: %s", out)
		return 0
	}

	l, err := OSFS{}.Lock(name)
	require.NoError(t, err)
	assert.Equal(t, lockChildLocked, child(), "the child must see the parent's lock")
	require.NoError(t, l.Close())
	assert.Equal(t, lockChildAcquired, child(), "the lock is free once closed")

	l, err = OSFS{}.Lock(name)
	require.NoError(t, err, "the child released its lock when it exited")
	require.NoError(t, l.Close())
}
