package eventlog

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes a write lock on the whole of f with fcntl(F_SETLK); AIX has
// no flock(2). fcntl locks belong to the process, which is why OSFS.Lock also
// keeps a registry of the paths it holds. A held lock is reported as
// ErrLocked.
func lockFile(f *os.File) error {
	return fcntlLock(f, unix.F_WRLCK)
}

// unlockFile releases the lock taken by lockFile.
func unlockFile(f *os.File) error {
	return fcntlLock(f, unix.F_UNLCK)
}

func fcntlLock(f *os.File, typ int16) error {
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart}
	return control(f, func(fd uintptr) error {
		for {
			err := unix.FcntlFlock(fd, unix.F_SETLK, &lk)
			switch err {
			case unix.EINTR:
				continue
			case unix.EAGAIN, unix.EACCES:
				return ErrLocked
			}
			return err
		}
	})
}
