package eventlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS for tests that models durability the way a
// POSIX filesystem after power loss does, and can inject I/O errors. It is
// safe for concurrent use. Create one with NewMemFS.
//
// # Durability model
//
// Every file has current content, what reads return, and durable content, what
// survives Crash. File.Sync makes the current content durable, but for the
// bytes a failed Sync lost (see Faults). Every directory
// likewise has current entries and durable entries: creating, renaming and
// removing files and directories changes only the current entries, and
// SyncDir(dir) makes dir's current entries durable. SyncDir does not make the
// directory's own entry in its parent durable, and Sync of a file does not
// make its name durable.
//
// Crash simulates a power loss (see CrashOptions for exactly what survives),
// or a process crash that keeps everything but makes nothing durable
// (CrashKeepAll). Then every file handle and lock from before the crash is
// dead, and calls on those handles fail with an error wrapping fs.ErrClosed.
//
// # Faults
//
// SetFault installs a hook that runs before every operation and can fail it,
// or make a write short; SetCapacity makes writes fail with ENOSPC once the
// files hold a given number of bytes.
//
// A File.Sync that the hook fails does what fsync does on Linux after a
// writeback error: the file's bytes not yet durable are marked clean
// without reaching the disk. Reads go on returning them, but no later Sync
// writes them (it succeeds without them), so a Crash, even after a Sync
// that succeeded, leaves what the disk had there: their durable content,
// and zeros past its end. Bytes written again after the failure are
// written by the next Sync. Code that acknowledges data synced by a Sync
// after a failed one, without writing it again, thus loses it at the next
// Crash, as it would on Linux.
//
// # Paths
//
// Names may use slashes or the OS separator; they are cleaned, and a leading
// separator or volume name is ignored, so "/data/x" and "data/x" name the same
// file under a single root directory.
//
// Files implement the optional Mmap method (see File) with a view that never
// changes: writes that would modify bytes a view shows go to a fresh copy
// instead, and unmapping does nothing. A view cannot reach past the end of the
// file: Mmap fails for a size beyond the file's size, and the caller maps
// again once the file has grown.
type MemFS struct {
	mu struct {
		sync.Mutex
		root     *memNode
		gen      uint64              // incremented by Crash; handles of older generations are dead
		locks    map[string]struct{} // cleaned paths held by Lock
		fault    Fault
		capacity int64      // bytes; 0 means unlimited
		rand     *rand.Rand // used by Crash when CrashOptions.Rand is nil
	}
}

var _ FS = (*MemFS)(nil)

// NewMemFS returns an empty MemFS whose root directory exists.
func NewMemFS() *MemFS {
	m := &MemFS{}
	m.mu.root = newDirNode(fs.ModeDir | 0o755)
	m.mu.locks = make(map[string]struct{})
	m.mu.rand = rand.New(rand.NewPCG(1, 2))
	return m
}

// errCrashed is returned for calls on handles opened before a Crash.
var errCrashed = fmt.Errorf("%w (memfs: handle predates a crash)", fs.ErrClosed)

// memNode is a file or a directory of a MemFS. All fields are guarded by the
// owning MemFS's mu.
type memNode struct {
	mode    fs.FileMode
	modTime time.Time

	// Files. data[:frozen] of data's backing array may be shared with
	// durable and with Mmap views, so it is never written in place: a write
	// there copies data to a fresh array first.
	data    []byte
	durable []byte
	frozen  int
	// lost lists the ranges of data that a failed Sync marked clean
	// without writing them (see SetFault): durable holds what the disk
	// has there, and no Sync writes them until they are written again.
	lost []byteRange

	// Directories. pending lists the changes to entries since the last
	// SyncDir, in order, for CrashReorder to keep some and lose others.
	entries        map[string]*memNode
	durableEntries map[string]*memNode
	pending        []dirChange
}

// dirChange is one change to a directory's entries that a crash keeps or
// loses whole: a creation, a removal, or a rename within the directory
// (which is atomic on a journaling filesystem).
type dirChange []entryChange

// entryChange points a name at a node, or removes it when node is nil.
type entryChange struct {
	name string
	node *memNode
}

// changeLocked applies a change to the directory's current entries and
// records it as pending until the next SyncDir.
func (n *memNode) changeLocked(changes ...entryChange) {
	for _, c := range changes {
		if c.node == nil {
			delete(n.entries, c.name)
		} else {
			n.entries[c.name] = c.node
		}
	}
	n.pending = append(n.pending, dirChange(changes))
}

func newDirNode(mode fs.FileMode) *memNode {
	return &memNode{
		mode:           mode,
		modTime:        time.Now(),
		entries:        make(map[string]*memNode),
		durableEntries: make(map[string]*memNode),
	}
}

func (n *memNode) isDir() bool { return n.mode.IsDir() }

// resizeLocked prepares data for a write of its bytes [from, size): it grows
// data to at least size, filling new bytes with zeros, after copying it to a
// fresh array if the write or the zero filling would touch frozen bytes or
// data's capacity is too small.
func (n *memNode) resizeLocked(from, size int) {
	from = min(from, len(n.data)) // the zero filling writes too
	if from < n.frozen || size > cap(n.data) {
		buf := make([]byte, len(n.data), max(size, 2*len(n.data), 512))
		copy(buf, n.data)
		n.data, n.frozen = buf, 0
	}
	if size > len(n.data) {
		old := len(n.data)
		n.data = n.data[:size]
		clear(n.data[old:]) // may hold bytes from before a truncation
	}
}

// writeAtLocked stores p at off, filling any gap with zeros.
func (n *memNode) writeAtLocked(p []byte, off int64) {
	end := int(off) + len(p)
	n.resizeLocked(int(off), max(end, len(n.data)))
	copy(n.data[off:], p)
	n.rewriteLostLocked(int(off), end)
	n.modTime = time.Now()
}

func (n *memNode) truncateLocked(size int64) {
	if int(size) < len(n.data) {
		n.data = n.data[:size] // the bytes past size stay frozen if they were
		n.rewriteLostLocked(int(size), math.MaxInt)
	} else {
		n.resizeLocked(len(n.data), int(size))
	}
	n.modTime = time.Now()
}

// freezeLocked returns data[:size] and marks it as shared.
func (n *memNode) freezeLocked(size int) []byte {
	n.frozen = max(n.frozen, size)
	return n.data[:size:size]
}

// memInfo is the fs.FileInfo of a MemFS file.
type memInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i *memInfo) Name() string       { return i.name }
func (i *memInfo) Size() int64        { return i.size }
func (i *memInfo) Mode() fs.FileMode  { return i.mode }
func (i *memInfo) ModTime() time.Time { return i.modTime }
func (i *memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *memInfo) Sys() any           { return nil }

func (n *memNode) infoLocked(name string) *memInfo {
	return &memInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

// cleanPath turns a name into a slash-separated path relative to the root,
// "" for the root itself.
func cleanPath(name string) string {
	name = filepath.ToSlash(name[len(filepath.VolumeName(name)):])
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// baseName is the last element of a cleaned name, "/" for the root.
func baseName(name string) string { return path.Base("/" + cleanPath(name)) }

// lookupLocked finds the node at a cleaned path.
func (m *MemFS) lookupLocked(p string) (*memNode, error) {
	n := m.mu.root
	if p == "" {
		return n, nil
	}
	for _, elem := range strings.Split(p, "/") {
		if !n.isDir() {
			return nil, syscall.ENOTDIR
		}
		child, ok := n.entries[elem]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = child
	}
	return n, nil
}

// parentLocked finds the directory holding a cleaned path and the path's last
// element.
func (m *MemFS) parentLocked(p string) (*memNode, string, error) {
	if p == "" {
		return nil, "", fs.ErrInvalid // the root has no parent
	}
	dirPath, base := path.Split(p)
	dir, err := m.lookupLocked(strings.TrimSuffix(dirPath, "/"))
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir() {
		return nil, "", syscall.ENOTDIR
	}
	return dir, base, nil
}

// hook runs the fault hook, if any, outside mu so that the hook may call back
// into the MemFS (for example to Crash it).
func (m *MemFS) hook(op Op, name string) error {
	m.mu.Lock()
	f := m.mu.fault
	m.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(op, name)
}

// OpenFile opens a file like os.OpenFile, honouring O_RDONLY, O_WRONLY,
// O_RDWR, O_APPEND, O_CREATE, O_EXCL and O_TRUNC. Directories cannot be
// opened. A created file's name is durable only after SyncDir of its
// directory.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := m.hook(OpOpen, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	n, err := m.lookupLocked(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0:
		dir, base, perr := m.parentLocked(p)
		if perr != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: perr}
		}
		n = &memNode{mode: perm.Perm(), modTime: time.Now()}
		dir.changeLocked(entryChange{base, n})
	case err != nil:
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case n.isDir():
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	f := &memFile{
		m:        m,
		node:     n,
		name:     name,
		gen:      m.mu.gen,
		readable: acc == os.O_RDONLY || acc == os.O_RDWR,
		writable: acc == os.O_WRONLY || acc == os.O_RDWR,
		append:   flag&os.O_APPEND != 0,
	}
	if flag&os.O_TRUNC != 0 && f.writable {
		n.truncateLocked(0)
	}
	return f, nil
}

// Remove removes a file or an empty directory. The removal is durable only
// after SyncDir of the parent; until then a Crash brings the name back.
func (m *MemFS) Remove(name string) error {
	if err := m.hook(OpRemove, name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	dir, base, err := m.parentLocked(p)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	n, ok := dir.entries[base]
	switch {
	case !ok:
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	case n.isDir() && len(n.entries) > 0:
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	dir.changeLocked(entryChange{base, nil})
	return nil
}

// RemoveAll removes a file or a directory tree; a missing name is not an
// error. Like os.RemoveAll, it removes a tree entry by entry, depth first,
// and the directory last; each removal is a change to its own directory,
// durable only after SyncDir of that directory (see Remove). A Crash before
// the parent is synced may thus bring the tree back with some of its
// entries gone, as a power loss during or after os.RemoveAll can.
func (m *MemFS) RemoveAll(name string) error {
	if err := m.hook(OpRemove, name); err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	if p == "" {
		return &fs.PathError{Op: "removeall", Path: name, Err: fs.ErrInvalid}
	}
	dir, base, err := m.parentLocked(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	if n, ok := dir.entries[base]; ok {
		n.removeEntriesLocked()
		dir.changeLocked(entryChange{base, nil})
	}
	return nil
}

// removeEntriesLocked empties a directory as os.RemoveAll does before it
// removes the directory itself: each entry in name order, a subdirectory's
// entries before the subdirectory. It does nothing to a file.
func (n *memNode) removeEntriesLocked() {
	if !n.isDir() {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(n.entries)) {
		n.entries[name].removeEntriesLocked()
		n.changeLocked(entryChange{name, nil})
	}
}

// Rename renames oldname to newname, replacing a file at newname. The change
// to each directory is durable only after SyncDir of that directory; a rename
// between two directories is thus a creation in one and a removal in the
// other, each made durable separately, so a Crash may leave the file under
// both names, either, or neither-but-the-old.
func (m *MemFS) Rename(oldname, newname string) error {
	linkErr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if err := m.hook(OpRename, oldname); err != nil {
		return linkErr(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	oldp, newp := cleanPath(oldname), cleanPath(newname)
	oldDir, oldBase, err := m.parentLocked(oldp)
	if err != nil {
		return linkErr(err)
	}
	n, ok := oldDir.entries[oldBase]
	if !ok {
		return linkErr(fs.ErrNotExist)
	}
	newDir, newBase, err := m.parentLocked(newp)
	if err != nil {
		return linkErr(err)
	}
	if oldp == newp {
		return nil
	}
	if n.isDir() && strings.HasPrefix(newp+"/", oldp+"/") {
		return linkErr(fs.ErrInvalid) // into its own subtree
	}
	if target, ok := newDir.entries[newBase]; ok {
		switch {
		case target.isDir() && !n.isDir():
			return linkErr(syscall.EISDIR)
		case !target.isDir() && n.isDir():
			return linkErr(syscall.ENOTDIR)
		case target.isDir() && len(target.entries) > 0:
			return linkErr(syscall.ENOTEMPTY)
		}
	}
	if oldDir == newDir {
		oldDir.changeLocked(entryChange{oldBase, nil}, entryChange{newBase, n})
	} else {
		oldDir.changeLocked(entryChange{oldBase, nil})
		newDir.changeLocked(entryChange{newBase, n})
	}
	return nil
}

// MkdirAll creates a directory and any missing parents. Each new directory is
// durable only after SyncDir of its parent.
func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	if err := m.hook(OpMkdir, name); err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.mu.root
	if p := cleanPath(name); p != "" {
		for _, elem := range strings.Split(p, "/") {
			child, ok := n.entries[elem]
			if !ok {
				child = newDirNode(fs.ModeDir | perm.Perm())
				n.changeLocked(entryChange{elem, child})
			} else if !child.isDir() {
				return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
			}
			n = child
		}
	}
	return nil
}

// ReadDir returns the names in a directory, sorted.
func (m *MemFS) ReadDir(name string) ([]string, error) {
	if err := m.hook(OpReadDir, name); err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(cleanPath(name))
	if err == nil && !n.isDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	names := make([]string, 0, len(n.entries))
	for e := range n.entries {
		names = append(names, e)
	}
	slices.Sort(names)
	return names, nil
}

// Stat describes a file or directory.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	if err := m.hook(OpStat, name); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	n, err := m.lookupLocked(p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return n.infoLocked(baseName(name)), nil
}

// SyncDir makes the directory's current entries durable: files and
// directories created or renamed into it survive a Crash under their new
// names, and names removed or renamed away stay gone.
func (m *MemFS) SyncDir(name string) error {
	if err := m.hook(OpSyncDir, name); err != nil {
		return &fs.PathError{Op: "syncdir", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(cleanPath(name))
	if err == nil && !n.isDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return &fs.PathError{Op: "syncdir", Path: name, Err: err}
	}
	n.durableEntries = maps.Clone(n.entries)
	n.pending = nil
	return nil
}

// Lock takes an exclusive in-memory lock on the named file, creating the file
// if needed. A second Lock of the same name fails with an error wrapping
// ErrLocked until the first is closed or the MemFS crashes.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	if err := m.hook(OpLock, name); err != nil {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	n, err := m.lookupLocked(p)
	if errors.Is(err, fs.ErrNotExist) {
		var dir *memNode
		var base string
		dir, base, err = m.parentLocked(p)
		if err == nil {
			dir.changeLocked(entryChange{base, &memNode{mode: 0o644, modTime: time.Now()}})
		}
	} else if err == nil && n.isDir() {
		err = syscall.EISDIR
	}
	if err != nil {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	if _, held := m.mu.locks[p]; held {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	m.mu.locks[p] = struct{}{}
	return &memLock{m: m, path: p, gen: m.mu.gen}, nil
}

// memLock is the Closer returned by MemFS.Lock.
type memLock struct {
	m    *MemFS
	path string
	gen  uint64
	done bool // guarded by m.mu
}

// Close releases the lock. It is idempotent, and a no-op after a Crash (which
// released the lock already).
func (l *memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if !l.done && l.gen == l.m.mu.gen {
		delete(l.m.mu.locks, l.path)
	}
	l.done = true
	return nil
}

// ReadFile returns a copy of the named file's current content. It is a test
// helper: it bypasses the fault hook.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(cleanPath(name))
	if err == nil && n.isDir() {
		err = syscall.EISDIR
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return slices.Clone(n.data), nil
}

// WriteFile replaces the named file's content with data and makes it durable,
// as if by creating the file, writing, syncing it and syncing its directory.
// Its parent directory must exist. It is a test helper: it bypasses the
// fault hook and the capacity limit.
func (m *MemFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	dir, base, err := m.parentLocked(p)
	if err != nil {
		return &fs.PathError{Op: "writefile", Path: name, Err: err}
	}
	n, ok := dir.entries[base]
	if !ok {
		n = &memNode{mode: perm.Perm()}
		dir.entries[base] = n
	} else if n.isDir() {
		return &fs.PathError{Op: "writefile", Path: name, Err: syscall.EISDIR}
	}
	n.truncateLocked(0)
	n.writeAtLocked(data, 0)
	n.durable = n.freezeLocked(len(n.data))
	dir.durableEntries = maps.Clone(dir.entries)
	dir.pending = nil
	return nil
}

// usedLocked returns the bytes held by the files reachable from the root.
func (m *MemFS) usedLocked() int64 {
	var used int64
	seen := make(map[*memNode]bool)
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		used += int64(len(n.data))
		for _, c := range n.entries {
			walk(c)
		}
	}
	walk(m.mu.root)
	return used
}
