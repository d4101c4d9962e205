package eventlog

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Op names a MemFS operation, for a Fault to choose which calls to fail.
type Op int

// The operations a Fault sees. File methods report the name the file was
// opened with; Rename reports the old name; RemoveAll reports OpRemove.
const (
	OpOpen     Op = iota + 1 // FS.OpenFile
	OpRead                   // File.Read, File.ReadAt
	OpWrite                  // File.Write, File.WriteAt
	OpSync                   // File.Sync
	OpTruncate               // File.Truncate
	OpStat                   // FS.Stat, File.Stat
	OpMmap                   // File's Mmap
	OpClose                  // File.Close
	OpRemove                 // FS.Remove, FS.RemoveAll
	OpRename                 // FS.Rename
	OpMkdir                  // FS.MkdirAll
	OpReadDir                // FS.ReadDir
	OpSyncDir                // FS.SyncDir
	OpLock                   // FS.Lock
)

var opNames = [...]string{
	OpOpen: "open", OpRead: "read", OpWrite: "write", OpSync: "sync",
	OpTruncate: "truncate", OpStat: "stat", OpMmap: "mmap", OpClose: "close",
	OpRemove: "remove", OpRename: "rename", OpMkdir: "mkdir",
	OpReadDir: "readdir", OpSyncDir: "syncdir", OpLock: "lock",
}

// String returns the operation's name, such as "sync".
func (op Op) String() string {
	if op > 0 && int(op) < len(opNames) {
		return opNames[op]
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// Fault is a MemFS hook called before each operation with the operation and
// the file or directory name it concerns. Returning nil lets the operation
// proceed; returning an error fails it without effect, with the error wrapped
// in an *fs.PathError (an *os.LinkError for Rename), except that a failed
// File.Sync loses the file's unsynced bytes, as a failed fsync does (see
// MemFS). A *ShortWriteError
// (possibly wrapped) returned for OpWrite makes a short write instead.
//
// The hook runs without MemFS locks held, possibly from several goroutines at
// once, and may call the MemFS, for example to Crash it before the operation
// takes place (the operation then fails, its handle being dead).
type Fault func(op Op, name string) error

// ErrInjected is a ready-made error for a Fault to return.
var ErrInjected = errors.New("eventlog: injected fault")

// ShortWriteError, returned by a Fault for OpWrite, makes the write store only
// the first N bytes it was given (clamped to [0, len]) and return N and an
// error wrapping Err, or io.ErrShortWrite if Err is nil. Returned for another
// operation, it fails that operation like any other error.
type ShortWriteError struct {
	N   int
	Err error
}

// Error says how many bytes were written and why the rest were not.
func (e *ShortWriteError) Error() string {
	return fmt.Sprintf("short write of %d bytes: %v", e.N, e.Err)
}

// Unwrap returns Err.
func (e *ShortWriteError) Unwrap() error { return e.Err }

// FailAfter returns a Fault that lets the first n calls of op succeed and
// fails every later one with err (ErrInjected if err is nil). Other
// operations always succeed. FailAfter(0, OpSync, nil) fails every Sync.
func FailAfter(n int, op Op, err error) Fault {
	if err == nil {
		err = ErrInjected
	}
	var seen atomic.Int64
	return func(o Op, _ string) error {
		if o == op && seen.Add(1) > int64(n) {
			return err
		}
		return nil
	}
}

// SetFault installs f as the fault hook, replacing any previous one; nil
// removes it.
func (m *MemFS) SetFault(f Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.fault = f
}

// SetCapacity limits the bytes the MemFS's files may hold, counting the
// current content of every file reachable from the root; 0 means unlimited.
// A write that would exceed the limit stores what fits and fails with an
// error wrapping syscall.ENOSPC. Growing a file with Truncate is not limited,
// as for a sparse file.
func (m *MemFS) SetCapacity(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.capacity = max(bytes, 0)
}

// byteRange is the bytes [start, end) of a file.
type byteRange struct{ start, end int }

// loseUnsyncedLocked is a failed Sync: as Linux does after a writeback
// error, it marks the bytes not yet durable clean without writing them.
// They stay readable, but no later Sync writes them, so a crash loses them
// unless they are written again before.
func (n *memNode) loseUnsyncedLocked() {
	var lost []byteRange
	for i := 0; i < len(n.data); {
		if i < len(n.durable) && n.data[i] == n.durable[i] {
			i++
			continue
		}
		start := i
		for i < len(n.data) && (i >= len(n.durable) || n.data[i] != n.durable[i]) {
			i++
		}
		lost = append(lost, byteRange{start, i})
	}
	n.lost = lost
}

// rewriteLostLocked notes that the bytes [start, end) were written or cut
// off: those of them a failed Sync lost are its no more.
func (n *memNode) rewriteLostLocked(start, end int) {
	if len(n.lost) == 0 {
		return
	}
	kept := n.lost[:0:0]
	for _, r := range n.lost {
		if r.start < start {
			kept = append(kept, byteRange{r.start, min(r.end, start)})
		}
		if r.end > end {
			kept = append(kept, byteRange{max(r.start, end), r.end})
		}
	}
	n.lost = kept
}

// onDiskLocked returns data as the disk holds it: with the bytes a failed
// Sync lost as durable has them, zeros past its end.
func (n *memNode) onDiskLocked() []byte {
	if len(n.lost) == 0 {
		return n.data
	}
	disk := make([]byte, len(n.data))
	copy(disk, n.data)
	for _, r := range n.lost {
		clear(disk[r.start:r.end])
		if r.start < len(n.durable) {
			copy(disk[r.start:r.end], n.durable[r.start:min(r.end, len(n.durable))])
		}
	}
	return disk
}

// syncLocked is a Sync that succeeds: the file's content becomes durable,
// but for the bytes an earlier failed Sync lost, which keep what the disk
// has.
func (n *memNode) syncLocked() {
	if len(n.lost) == 0 {
		n.durable = n.freezeLocked(len(n.data))
		return
	}
	n.durable = n.onDiskLocked()
}
