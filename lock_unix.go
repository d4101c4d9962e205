//go:build unix && !aix

package eventlog

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes flock(LOCK_EX|LOCK_NB) on f. flock locks belong to the open
// file description, so a second open of the same file conflicts even within
// one process. A held lock is reported as ErrLocked.
func lockFile(f *os.File) error {
	return flock(f, unix.LOCK_EX|unix.LOCK_NB)
}

// unlockFile releases the lock taken by lockFile.
func unlockFile(f *os.File) error {
	return flock(f, unix.LOCK_UN)
}

func flock(f *os.File, how int) error {
	return control(f, func(fd uintptr) error {
		for {
			err := unix.Flock(int(fd), how)
			switch err {
			case unix.EINTR:
				continue
			case unix.EWOULDBLOCK:
				return ErrLocked
			}
			return err
		}
	})
}
