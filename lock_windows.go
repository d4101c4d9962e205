package eventlog

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive LockFileEx lock on the first byte of f, failing
// at once if it is held. The lock belongs to the file handle, so a second open
// of the same file conflicts even within one process. A held lock is reported
// as ErrLocked.
func lockFile(f *os.File) error {
	return control(f, func(fd uintptr) error {
		err := windows.LockFileEx(windows.Handle(fd),
			windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
			0, 1, 0, new(windows.Overlapped))
		if err == windows.ERROR_LOCK_VIOLATION {
			return ErrLocked
		}
		return err
	})
}

// unlockFile releases the lock taken by lockFile.
func unlockFile(f *os.File) error {
	return control(f, func(fd uintptr) error {
		return windows.UnlockFileEx(windows.Handle(fd), 0, 1, 0, new(windows.Overlapped))
	})
}
