package eventlog

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readOnlyFS is the FS of a read-only Log: it passes reads through to the
// FS it wraps and refuses, with ErrReadOnly, everything that would change
// the directory. The read-only code paths do not write; this makes sure
// that a path that would, by mistake, fails instead of writing.
//
// Its files refuse to map bytes past the end of the file: another process
// may replace a segment by a smaller file (a compaction) between the
// moment the Log learned its size and the moment it maps it, and touching
// a mapping past the end of its file kills the process with SIGBUS.
type readOnlyFS struct{ fs FS }

func (r readOnlyFS) refuse(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: ErrReadOnly}
}

// OpenFile opens name for reading; any other flag is refused.
func (r readOnlyFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag != os.O_RDONLY {
		return nil, r.refuse("open", name)
	}
	f, err := r.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if m, ok := f.(mmapper); ok {
		return &readOnlyMappedFile{readOnlyFile{f}, m}, nil
	}
	return readOnlyFile{f}, nil
}

func (r readOnlyFS) Remove(name string) error                  { return r.refuse("remove", name) }
func (r readOnlyFS) RemoveAll(name string) error               { return r.refuse("removeall", name) }
func (r readOnlyFS) Rename(oldname, newname string) error      { return r.refuse("rename", oldname) }
func (r readOnlyFS) MkdirAll(name string, _ fs.FileMode) error { return r.refuse("mkdir", name) }
func (r readOnlyFS) ReadDir(name string) ([]string, error)     { return r.fs.ReadDir(name) }
func (r readOnlyFS) Stat(name string) (fs.FileInfo, error)     { return r.fs.Stat(name) }
func (r readOnlyFS) SyncDir(name string) error                 { return r.refuse("syncdir", name) }
func (r readOnlyFS) Lock(name string) (io.Closer, error)       { return nil, r.refuse("lock", name) }

// readOnlyFile is a File of a readOnlyFS: writes are refused.
type readOnlyFile struct{ File }

func (f readOnlyFile) Write([]byte) (int, error) { return 0, readOnlyFS{}.refuse("write", f.Name()) }
func (f readOnlyFile) WriteAt([]byte, int64) (int, error) {
	return 0, readOnlyFS{}.refuse("writeat", f.Name())
}
func (f readOnlyFile) Sync() error          { return readOnlyFS{}.refuse("sync", f.Name()) }
func (f readOnlyFile) Truncate(int64) error { return readOnlyFS{}.refuse("truncate", f.Name()) }

// readOnlyMappedFile is a readOnlyFile whose FS maps files.
type readOnlyMappedFile struct {
	readOnlyFile
	m mmapper
}

// Mmap maps the first size bytes, which must exist now: it fails with an
// error wrapping errMmapBeyondEOF otherwise.
func (f *readOnlyMappedFile) Mmap(size int) ([]byte, func() error, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if int64(size) > info.Size() {
		return nil, nil, &fs.PathError{Op: "mmap", Path: f.Name(),
			Err: fmt.Errorf("%w: %d bytes requested, file has %d", errMmapBeyondEOF, size, info.Size())}
	}
	return f.m.Mmap(size)
}
