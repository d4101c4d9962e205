package eventlog

import (
	"fmt"
	"io/fs"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Mmap maps the first size bytes of the file read-only. size must not exceed
// the file's size (a larger mapping would grow the file on Windows); it
// returns an error wrapping errMmapBeyondEOF otherwise. A size of 0 returns an
// empty view.
//
// unmap releases the mapping; after it, touching the view crashes the
// process. Calling unmap again returns nil. A mapped file cannot be truncated,
// renamed or removed on Windows, so callers unmap first.
func (f *osFile) Mmap(size int) ([]byte, func() error, error) {
	if size < 0 {
		return nil, nil, &fs.PathError{Op: "mmap", Path: f.Name(), Err: fs.ErrInvalid}
	}
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	fi, err := f.File.Stat()
	if err != nil {
		return nil, nil, err
	}
	if int64(size) > fi.Size() {
		return nil, nil, &fs.PathError{Op: "mmap", Path: f.Name(),
			Err: fmt.Errorf("%w: %d bytes requested, file has %d", errMmapBeyondEOF, size, fi.Size())}
	}
	var addr uintptr
	err = control(f.File, func(fd uintptr) error {
		sz := uint64(size)
		h, err := windows.CreateFileMapping(windows.Handle(fd), nil, windows.PAGE_READONLY,
			uint32(sz>>32), uint32(sz), nil)
		if err != nil {
			return err
		}
		addr, err = windows.MapViewOfFile(h, windows.FILE_MAP_READ, 0, 0, uintptr(size))
		// The view keeps the mapping object alive; its handle is not needed.
		if cerr := windows.CloseHandle(h); err == nil && cerr != nil {
			_ = windows.UnmapViewOfFile(addr)
			err = cerr
		}
		return err
	})
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	// The view lies outside the Go heap; unsafe.Add turns its address into a
	// pointer without the uintptr conversion that vet cannot tell from misuse.
	data := unsafe.Slice((*byte)(unsafe.Add(nil, addr)), size)
	name := f.Name()
	var once sync.Once
	unmap := func() error {
		var err error
		once.Do(func() {
			if uerr := windows.UnmapViewOfFile(addr); uerr != nil {
				err = &fs.PathError{Op: "munmap", Path: name, Err: uerr}
			}
		})
		return err
	}
	return data, unmap, nil
}
