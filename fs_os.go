package eventlog

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// errMmapBeyondEOF is returned by Mmap when asked to map more bytes than the
// file holds, where that cannot be done: on Windows a mapping larger than the
// file grows the file, and a MemFS view cannot show bytes appended after it
// was made. The caller maps again once the file has grown.
var errMmapBeyondEOF = errors.New("eventlog: mmap beyond end of file")

// OSFS is the FS of the operating system, the default. Its zero value is ready
// to use and it holds no state, so copies are interchangeable.
//
// Durability: File.Sync is fdatasync(2) on Linux and os.File.Sync elsewhere,
// which on macOS is fcntl(F_FULLFSYNC) so that the data reaches the platter
// and not only the drive's cache. SyncDir fsyncs the directory on Unix; on
// Windows a directory cannot be synced, and SyncDir only checks that the
// directory exists (NTFS journals its metadata).
//
// Files opened through OSFS implement Mmap on Unix and Windows (see File).
// Lock uses flock(2) on Unix and LockFileEx on Windows, plus a registry
// inside the process so that a second Lock of the same path from this
// process fails even where the OS lock would let it through.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile opens a file like os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{File: f}, nil
}

// Remove removes a file or an empty directory, like os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// RemoveAll removes a directory tree, like os.RemoveAll.
func (OSFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// Rename renames a file, replacing newname, like os.Rename.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll creates a directory and its parents, like os.MkdirAll.
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// Stat describes a file or directory, like os.Stat.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// ReadDir returns the names in a directory, sorted.
func (OSFS) ReadDir(name string) ([]string, error) {
	entries, err := os.ReadDir(name) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// SyncDir makes the directory's entries durable by fsyncing the directory.
// On Windows, where a directory cannot be fsynced, it only checks that the
// directory exists.
func (OSFS) SyncDir(name string) error {
	if runtime.GOOS == "windows" {
		_, err := os.Stat(name)
		return err
	}
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock takes an exclusive lock on the named file, creating it if needed. It
// returns an error wrapping ErrLocked if the file is locked by this process
// (through any FS) or by another one. The lock is released when the returned
// Closer is closed, or by the OS when the process exits.
func (OSFS) Lock(name string) (io.Closer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	if !processLocks.acquire(abs) {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		processLocks.release(abs)
		return nil, err
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		processLocks.release(abs)
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	return &osLock{f: f, abs: abs}, nil
}

// processLocks holds the absolute paths that OSFS.Lock has locked in this
// process. flock(2) already refuses a second lock through another open file
// description, but fcntl-style locks (and flock emulated with them) belong to
// the process, so a Log opened twice in one process would not notice.
var processLocks = lockRegistry{held: make(map[string]struct{})}

type lockRegistry struct {
	mu   sync.Mutex
	held map[string]struct{} // guarded by mu
}

func (r *lockRegistry) acquire(abs string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.held[abs]; ok {
		return false
	}
	r.held[abs] = struct{}{}
	return true
}

func (r *lockRegistry) release(abs string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.held, abs)
}

// osLock is the Closer returned by OSFS.Lock.
type osLock struct {
	once sync.Once
	err  error
	f    *os.File
	abs  string
}

// Close releases the lock and closes the lock file. Later calls return the
// first call's result.
func (l *osLock) Close() error {
	l.once.Do(func() {
		// Closing the file releases the OS lock in any case; unlocking first
		// only makes the release explicit and reports its error.
		l.err = errors.Join(unlockFile(l.f), l.f.Close())
		processLocks.release(l.abs)
	})
	return l.err
}

// osFile is a File of OSFS: an *os.File whose Sync is a data sync.
type osFile struct {
	*os.File
}

// Sync makes the file's contents durable: fdatasync(2) on Linux, which skips
// metadata such as the modification time that recovery does not need, and
// os.File.Sync elsewhere (F_FULLFSYNC on macOS).
func (f *osFile) Sync() error { return datasync(f.File) }

// control runs fn with f's descriptor (a handle on Windows), keeping f open
// while fn runs, and returns fn's error.
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return fs.ErrClosed // Control fails only once f is closed
	}
	return ferr
}
