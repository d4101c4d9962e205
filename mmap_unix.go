//go:build unix

package eventlog

import (
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"
)

// Mmap maps the first size bytes of the file read-only (PROT_READ,
// MAP_SHARED), so the view shows later writes to that range. size may exceed
// the file's size: the bytes past the end of the file must not be touched
// (doing so raises SIGBUS), but once the file grows they become readable
// through the same mapping, which spares a remap for every append. A size of
// 0 returns an empty view.
//
// unmap releases the mapping; after it, touching the view crashes the
// process. Calling unmap again returns nil.
func (f *osFile) Mmap(size int) ([]byte, func() error, error) {
	if size < 0 {
		return nil, nil, &fs.PathError{Op: "mmap", Path: f.Name(), Err: fs.ErrInvalid}
	}
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	var data []byte
	err := control(f.File, func(fd uintptr) error {
		var err error
		data, err = unix.Mmap(int(fd), 0, size, unix.PROT_READ, unix.MAP_SHARED)
		return err
	})
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	name := f.Name()
	var once sync.Once
	unmap := func() error {
		var err error
		once.Do(func() {
			if uerr := unix.Munmap(data); uerr != nil {
				err = &fs.PathError{Op: "munmap", Path: name, Err: uerr}
			}
		})
		return err
	}
	return data, unmap, nil
}
