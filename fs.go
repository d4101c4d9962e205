package eventlog

import (
	"io"
	"io/fs"
)

// FS is the filesystem seam: every file the library touches goes through it.
// The default, OSFS, uses the operating system. MemFS keeps files in memory and
// can simulate a crash that loses unsynced writes and inject I/O errors, so
// that users can crash-test their own code.
//
// Names are slash- or OS-separated paths as produced by path/filepath.
type FS interface {
	// OpenFile opens a file like os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a directory tree; a missing path is not an error.
	RemoveAll(name string) error
	// Rename atomically replaces newname with oldname. It becomes durable only
	// once the parent directory is synced with SyncDir.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents. New directory entries are
	// durable only once their parent is synced with SyncDir.
	MkdirAll(name string, perm fs.FileMode) error
	// ReadDir lists the names in a directory, sorted.
	ReadDir(name string) ([]string, error)
	// Stat describes a file or directory.
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(name string) error
	// Lock takes an exclusive lock on the named file, creating it if needed.
	// It returns an error wrapping ErrLocked if any holder, in this process or
	// another, has it. Closing the returned Closer releases the lock.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS.
//
// A File may also implement Mmap(size int) (data []byte, unmap func() error,
// err error) to give read-only access to its first size bytes without copying;
// the library uses it for reads when present and falls back to ReadAt
// otherwise. Bytes of a mapping that lie past the end of the file must never be
// touched by the library, and the file is never truncated below a live
// mapping's reach while a reader uses it.
//
// A File may also implement StartWriteback(off, n int64) error to start
// writing its bytes [off, off+n) to the disk without waiting for them (OSFS
// does on Linux, with sync_file_range(2)); the library calls it on segments
// of DurabilityOS topics as they grow, so that the fsync of a roll finds
// little left to write. It makes nothing durable, and its errors are
// ignored: a failed write-out is reported by the next Sync. It must not
// wait for the write: the Log's background worker that calls it also
// makes the background fsyncs, which would wait behind it, and Close
// waits for the worker.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's contents durable (fdatasync where available).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat describes the file.
	Stat() (fs.FileInfo, error)
	// Name is the name the file was opened with.
	Name() string
}

// mmapper is the optional File method used for zero-copy reads.
//
// Mmap returns a read-only view of the file's first size bytes and a function
// that releases it; unmap is idempotent, and size 0 gives an empty view.
// Implementations differ past the end of the file and in what a view shows:
//
//   - OSFS on Unix maps beyond the end of the file. The bytes there must not
//     be touched (SIGBUS), but they become readable through the same view as
//     the file grows (MAP_SHARED), so one mapping can serve every append.
//   - OSFS on Windows and MemFS refuse a size beyond the file's size with an
//     error wrapping errMmapBeyondEOF. The caller maps at most the current
//     size and maps again when it needs bytes written later.
//   - An OSFS view shows later writes to its bytes; a MemFS view is a
//     snapshot that never changes. The library reads through a view only
//     bytes that are written and no longer change, so it cannot tell.
type mmapper interface {
	Mmap(size int) (data []byte, unmap func() error, err error)
}

// writebackStarter is the optional File method that starts writing a
// range out (see File).
type writebackStarter interface {
	StartWriteback(off, n int64) error
}
