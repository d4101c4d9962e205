package eventlog

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data, and the metadata needed to read it back (such as
// its size), with fdatasync(2).
func datasync(f *os.File) error {
	err := control(f, func(fd uintptr) error {
		for {
			if err := unix.Fdatasync(int(fd)); err != unix.EINTR {
				return err
			}
		}
	})
	if err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

// StartWriteback starts writing out f's dirty pages in [off, off+n) with
// sync_file_range(2), SYNC_FILE_RANGE_WRITE, and returns without waiting
// for them.
func (f *osFile) StartWriteback(off, n int64) error {
	err := control(f.File, func(fd uintptr) error {
		return unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
	if err != nil {
		return &fs.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
	}
	return nil
}
