package eventlog

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
)

// memFile is a File of a MemFS.
type memFile struct {
	m        *MemFS
	node     *memNode
	name     string // as passed to OpenFile
	gen      uint64 // MemFS generation the handle belongs to
	readable bool
	writable bool
	append   bool

	offset int64 // guarded by m.mu; position of Read and Write
	closed bool  // guarded by m.mu
}

var errWriteAtInAppendMode = errors.New("invalid use of WriteAt on file opened with O_APPEND")

// checkLocked returns the error for a call on a closed or dead handle.
func (f *memFile) checkLocked() error {
	if f.gen != f.m.mu.gen {
		return errCrashed
	}
	if f.closed {
		return fs.ErrClosed
	}
	return nil
}

func (f *memFile) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// Name returns the name the file was opened with.
func (f *memFile) Name() string { return f.name }

// Read reads from the file's current position.
func (f *memFile) Read(p []byte) (int, error) {
	if err := f.m.hook(OpRead, f.name); err != nil {
		return 0, f.pathErr("read", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n, err := f.readAtLocked("read", p, f.offset)
	f.offset += int64(n)
	if err == io.EOF && (n > 0 || len(p) == 0) {
		err = nil // Read reports EOF only when it reads nothing
	}
	return n, err
}

// ReadAt reads len(p) bytes at off; it returns io.EOF if fewer are there.
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.m.hook(OpRead, f.name); err != nil {
		return 0, f.pathErr("read", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	return f.readAtLocked("read", p, off)
}

func (f *memFile) readAtLocked(op string, p []byte, off int64) (int, error) {
	if err := f.checkLocked(); err != nil {
		return 0, f.pathErr(op, err)
	}
	if !f.readable {
		return 0, f.pathErr(op, syscall.EBADF)
	}
	if off < 0 {
		return 0, f.pathErr(op, fs.ErrInvalid)
	}
	if len(p) == 0 {
		return 0, nil
	}
	data := f.node.data
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write writes at the file's current position, or at its end if the file was
// opened with O_APPEND.
func (f *memFile) Write(p []byte) (int, error) {
	return f.write("write", p, -1)
}

// WriteAt writes p at off.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.pathErr("writeat", fs.ErrInvalid)
	}
	return f.write("writeat", p, off)
}

// write stores p at off, or at the handle's position if off is -1. The fault
// hook and the capacity may cut it short.
func (f *memFile) write(op string, p []byte, off int64) (int, error) {
	limit := len(p)
	var werr error
	if err := f.m.hook(OpWrite, f.name); err != nil {
		var short *ShortWriteError
		if !errors.As(err, &short) {
			return 0, f.pathErr(op, err)
		}
		limit = min(max(short.N, 0), len(p))
		werr = short.Err
		if werr == nil {
			werr = io.ErrShortWrite
		}
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return 0, f.pathErr(op, err)
	}
	if !f.writable {
		return 0, f.pathErr(op, syscall.EBADF)
	}
	n := f.node
	switch {
	case off < 0 && f.append:
		off = int64(len(n.data))
	case off < 0:
		off = f.offset
	case f.append:
		return 0, f.pathErr(op, errWriteAtInAppendMode)
	}
	if capacity := f.m.mu.capacity; capacity > 0 {
		avail := max(capacity-f.m.usedLocked(), 0)
		if allowed := max(int64(len(n.data))+avail-off, 0); allowed < int64(limit) {
			limit, werr = int(allowed), syscall.ENOSPC
		}
	}
	if limit > 0 {
		n.writeAtLocked(p[:limit], off)
	}
	if op == "write" {
		f.offset = off + int64(limit)
	}
	if werr != nil {
		return limit, f.pathErr(op, werr)
	}
	return limit, nil
}

// Sync makes the file's current content durable, but for the bytes an
// earlier failed Sync lost (see SetFault). A Sync that the fault hook fails
// loses the bytes not yet durable.
func (f *memFile) Sync() error {
	herr := f.m.hook(OpSync, f.name)
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		if herr != nil {
			err = herr
		}
		return f.pathErr("sync", err)
	}
	if herr != nil {
		f.node.loseUnsyncedLocked()
		return f.pathErr("sync", herr)
	}
	f.node.syncLocked()
	return nil
}

// Truncate changes the file's size; growing it adds zeros, which do not count
// against the capacity (as a sparse file would not).
func (f *memFile) Truncate(size int64) error {
	if err := f.m.hook(OpTruncate, f.name); err != nil {
		return f.pathErr("truncate", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return f.pathErr("truncate", err)
	}
	if !f.writable || size < 0 {
		return f.pathErr("truncate", fs.ErrInvalid)
	}
	f.node.truncateLocked(size)
	return nil
}

// Stat describes the file.
func (f *memFile) Stat() (fs.FileInfo, error) {
	if err := f.m.hook(OpStat, f.name); err != nil {
		return nil, f.pathErr("stat", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return nil, f.pathErr("stat", err)
	}
	return f.node.infoLocked(baseName(f.name)), nil
}

// Close closes the handle. The handle is closed even when the fault hook
// fails the call.
func (f *memFile) Close() error {
	herr := f.m.hook(OpClose, f.name)
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return f.pathErr("close", err)
	}
	f.closed = true
	if herr != nil {
		return f.pathErr("close", herr)
	}
	return nil
}

// Mmap returns a read-only view of the file's first size bytes. The view
// never changes, even when the file is later overwritten or truncated (those
// writes go to a copy), and stays valid after unmap, which does nothing. A
// view cannot reach past the end of the file: if size exceeds the file's
// size, Mmap returns an error wrapping errMmapBeyondEOF, and the caller must
// map again after the file has grown.
func (f *memFile) Mmap(size int) ([]byte, func() error, error) {
	if err := f.m.hook(OpMmap, f.name); err != nil {
		return nil, nil, f.pathErr("mmap", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return nil, nil, f.pathErr("mmap", err)
	}
	switch {
	case !f.readable:
		return nil, nil, f.pathErr("mmap", syscall.EACCES)
	case size < 0:
		return nil, nil, f.pathErr("mmap", fs.ErrInvalid)
	case size > len(f.node.data):
		return nil, nil, f.pathErr("mmap", errMmapBeyondEOF)
	case size == 0:
		return []byte{}, func() error { return nil }, nil
	}
	return f.node.freezeLocked(size), func() error { return nil }, nil
}
